"""Learning check (slow; `make test-slow`): PEARL meta-trains on point-goal from the CLI.

Measured when this was written (2-core shared CPU, `conf/point_goal.yaml` + `conf/pearl.yaml`,
seed 0, 40 epochs × 250 steps, 28 800 env steps, about 18 min; this test alone took 9 min 14 s
on a quieter machine): the train-task return of
PEARL's protocol (40 train tasks) read −30.7 at the first evaluation (epoch 4) and −17.0,
−16.2, −19.1 at the last three (epochs 29, 34, 39; mean −17.4); a uniform random policy scores
about −30 and the optimum about −3.8. docs/pearl.md has all three seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONF, metric_series, read_metrics

RANDOM_RETURN = -30.0  # uniform random actions on point-goal


@pytest.mark.slow
def test_pearl_point_goal_train_return_rises_well_above_random(run_cli):
    cli = run_cli(
        "fit",
        "--config",
        CONF / "point_goal.yaml",
        "--config",
        CONF / "pearl.yaml",
        "--model.init_args.eval.train_tasks",
        "40",
        "--trainer.enable_progress_bar",
        "false",
    )
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    train = metric_series(rows, "eval/train_return")
    assert len(train) == 8
    assert len(metric_series(rows, "eval/test_return_pearl")) == 8
    # measured −17.4 (seed 0): at least 7 of the 26 points between random and the optimum
    assert np.mean(train[-3:]) > RANDOM_RETURN + 7, train
    assert np.mean(train[-3:]) > train[0] + 5, train  # and it rose over training
