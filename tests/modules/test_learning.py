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


CHEETAH_SHORT = (
    "--torch_threads",
    "1",
    "--trainer.max_epochs",
    "60",
    "--data.steps_per_epoch",
    "200",
    "--data.batch_size",
    "64",
    "--model.init_args.dynamics.hidden",
    "64",
    "--model.init_args.dynamics.layers",
    "2",
    "--model.init_args.sac.hidden",
    "[128, 128]",
    "--model.init_args.sac.lr",
    "0.001",
    "--model.init_args.collect.initial_exploration_repeats",
    "1",
    "--model.init_args.collect.prior_steps",
    "200",
    "--model.init_args.collect.posterior_steps",
    "200",
    "--model.init_args.eval.interval",
    "0",
    "--trainer.enable_progress_bar",
    "false",
)


@pytest.mark.slow
def test_cheetah_vel_train_return_rises_well_above_random(run_cli):
    """cheetah-vel on a shortened schedule (smaller nets, 200 steps × 60 epochs, P = U = 200).

    Seen when written (2-core CPU, about 6 minutes): the stochastic policy's train episodes
    returned −327 in epoch 0 (random-init policy, v ≈ 0 against targets in U[0, 3]) and −150
    to −200 from epoch 48 on (−175 mean over epochs 48-60).
    """
    cli = run_cli("fit", "--config", CONF / "cheetah_vel.yaml", *CHEETAH_SHORT)
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    returns = metric_series(rows, "train/episode_return")
    assert len(returns) == 60
    assert np.mean(returns[-8:]) > returns[0] + 80, returns
    assert np.mean(returns[-8:]) > -250, returns
