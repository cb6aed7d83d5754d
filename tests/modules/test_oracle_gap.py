"""Learning checks (slow): MIER against the oracle-context policy on the point families.

Both sides run the family config for 40 epochs on seeds 0, 1, 2 (the same env steps); the
oracle is the same SAC told the true task (``context_source oracle``). The MIER seeds are then
adapted on every test task (``adapt``, experience relabeling). Thresholds are the learning-
quality targets; docs/learning.md has the measured figures, the commands and the ablation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mier_pl.analysis.compare import read_variant
from tests.conftest import CONF

SEEDS = (0, 1, 2)
EPOCHS = 40


def fit_seeds(run_cli, root: Path, config: str, name: str, *extra: str) -> Path:
    for seed in SEEDS:
        run_cli(
            "fit",
            "--config",
            CONF / config,
            "--seed_everything",
            seed,
            "--trainer.max_epochs",
            EPOCHS,
            "--model.init_args.eval.train_tasks",
            "40",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.logger.init_args.save_dir",
            root,
            "--trainer.logger.init_args.name",
            name,
            "--trainer.logger.init_args.version",
            f"s{seed}",
            *extra,
        )
    return root / name


def adapt_seeds(run_cli, runs: Path, config: str) -> list[dict]:
    summaries = []
    for seed in SEEDS:
        run = runs / f"s{seed}"
        run_cli(
            "adapt",
            "--config",
            CONF / config,
            "--ckpt_path",
            run / "checkpoints" / "last.ckpt",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.logger.init_args.save_dir",
            run,
            "--trainer.logger.init_args.name",
            "",
            "--trainer.logger.init_args.version",
            "adapt",
        )
        summaries.append(json.loads((run / "adapt" / "results.json").read_text())["summary"])
    return summaries


@pytest.fixture(scope="module", params=["point_goal.yaml", "point_rotated.yaml"])
def measured(request, tmp_path_factory):
    """Oracle and MIER fits (3 seeds each) and MIER's adapt runs, for one family config."""
    from mier_pl.cli.main import main

    config = request.param
    root = tmp_path_factory.mktemp(config.removesuffix(".yaml"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        run_cli = lambda *a: main([str(x) for x in a])  # noqa: E731
        oracle = fit_seeds(
            run_cli, root, config, "oracle", "--model.init_args.context_source", "oracle"
        )
        mier = fit_seeds(run_cli, root, config, "adapted")  # "mier" means "the family" to the CLI
        summaries = adapt_seeds(run_cli, mier, config)
    return config, read_variant("oracle", oracle), read_variant("mier", mier), summaries


# The learning-quality targets: MIER's mean train return within 1.5 of the oracle's; after
# relabeling, its mean OOD test return within 3 of the oracle's test return, above MIER-wR on
# every seed. Both families meet all three (docs/learning.md): point-goal's train gap is 1.45
# since the config's model warm-up (dynamics.warmup_steps 5000; 2.03 without it).
TRAIN_GAP, TEST_GAP = 1.5, 3.0


def _train_gap(oracle, mier) -> float:
    return float(oracle.final("train").mean() - mier.final("train").mean())


def _test_returns(summaries) -> tuple[np.ndarray, np.ndarray]:
    mier = np.array([s["mier_mean"] for s in summaries])
    return mier, np.array([s["mier_wr_mean"] for s in summaries])


@pytest.mark.slow
def test_mier_train_return_is_close_to_the_oracle(measured):
    config, oracle, mier, _ = measured
    assert _train_gap(oracle, mier) <= TRAIN_GAP, (
        config,
        oracle.final("train"),
        mier.final("train"),
    )


@pytest.mark.slow
def test_relabeled_test_return_is_close_to_the_oracle(measured):
    config, oracle, _, summaries = measured
    mier, mier_wr = _test_returns(summaries)
    assert oracle.final("test").mean() - mier.mean() <= TEST_GAP, (
        config,
        oracle.final("test"),
        mier,
    )
    assert (mier > mier_wr).all(), (config, mier, mier_wr)  # relabeling helps on every seed
