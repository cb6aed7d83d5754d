"""Learning checks (slow; `make test-slow`): MIER meta-trains on point-goal from the CLI.

Figures seen when this was written (2-core CPU, `conf/point_goal.yaml`, seed 0, 40 epochs ×
250 steps): a uniform random policy scores about −30 per 30-step episode; the mean train-task
return of the deterministic adapted policy rose to about −10, and the test tasks' MIER-wR
return rose from about −21 at the first evaluation to about −15 to −19 at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONF, metric_series, read_metrics

RANDOM_RETURN = -30.0  # uniform random actions on point-goal (train/episode_return at epoch 0)


@pytest.mark.slow
def test_point_goal_train_return_beats_random_and_test_return_improves(run_cli):
    cli = run_cli(
        "fit", "--config", CONF / "point_goal.yaml", "--trainer.enable_progress_bar", "false"
    )
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    train = metric_series(rows, "eval/train_return")
    test = metric_series(rows, "eval/test_return_mier_wr")
    assert len(train) == 8
    # clearly better than random: at least 12 of the 30 return points recovered
    assert np.mean(train[-2:]) > RANDOM_RETURN + 12, train
    # MIER-wR on the OOD test goals improves over training
    assert np.mean(test[-2:]) > test[0] + 1.5, test
