"""Learning targets on the MuJoCo benchmark families (slow; many core-hours): MIER-wR beside the
oracle-context policy on the same seeds and env steps, and beside PEARL's published logs.

Each fit runs the family config as shipped to 500 000 env steps (``collect.max_env_steps``:
200 000 of initial exploration, then 60 epochs of 5 000), evaluating every 5 epochs, one torch
thread per process and as many processes at once as the machine has cores. On the project's
2-core CPU one cheetah-vel fit takes about 3.5 hours of a core, so the cheetah-vel check (3
seeds × 2 policies) needs about 21 core-hours: run it where there are six cores.

The statistic is the mean of the last two test evaluations (475 000 and 500 000 env steps) of
each seed, then over seeds: one evaluation (one episode on each of the 30 test tasks) swings by
±40 between neighbouring evaluations of one seed on cheetah-vel (docs/learning.md), and the
published PEARL figure it is held against averages two evaluations too.

The targets (docs/learning.md has the study and the measured runs):

- cheetah-vel, seeds 0-2: MIER-wR at least −52 (PEARL's logs: −44.6 at 0.5 M, seed range
  −51.8 … −41.8) and at most 15 below the oracle. Measured on seed 0 (docs/learning.md): the
  release's settings −108 at 475 000; the inner clip lifted −73.8 (−84.1, −63.5). Not met yet.
- walker-rand-params, seed 0: MIER-wR at least 220 (PEARL's logs: mean 220, seed range 194-239
  at 0.5 M). Not measured yet.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONF, metric_series, read_metrics

ENV_STEPS = 500_000
LAST_EVALUATIONS = 2


def fit_command(root: Path, config: str, name: str, seed: int, *extra: str) -> list[str]:
    """``fit`` of ``conf/<config>`` to ``ENV_STEPS``, logging to ``root/name/s<seed>``."""
    return [
        sys.executable, "-m", "mier_pl", "fit", "--config", str(CONF / config),
        "--seed_everything", str(seed),
        "--torch_threads", "1",
        "--matmul_precision", "medium",
        "--model.init_args.collect.max_env_steps", str(ENV_STEPS),
        "--model.init_args.eval.interval", "5",
        "--trainer.enable_progress_bar", "false",
        "--trainer.logger.init_args.save_dir", str(root),
        "--trainer.logger.init_args.name", name,
        "--trainer.logger.init_args.version", f"s{seed}",
        *extra,
    ]  # fmt: skip


def run_all(root: Path, commands: dict[str, list[str]]) -> None:
    """Run the fits, as many at once as there are cores; each logs to ``root/<key>.log``."""

    def run(key: str) -> tuple[str, int]:
        with open(root / f"{key}.log", "w") as log:
            return key, subprocess.run(commands[key], cwd=root, stdout=log, stderr=log).returncode

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for key, code in pool.map(run, commands):
            assert code == 0, (root / f"{key}.log").read_text()[-3000:]


def final_test_return(run: Path) -> float:
    """The mean of a fit's last ``LAST_EVALUATIONS`` test returns, after checking it ran the
    whole budget."""
    rows = read_metrics(run / "metrics.csv")
    assert max(metric_series(rows, "progress/env_steps")) >= ENV_STEPS, run
    test = next(
        metric_series(rows, key)
        for key in ("eval/test_return_mier_wr", "eval/test_return_oracle")
        if metric_series(rows, key)
    )
    return float(np.mean(test[-LAST_EVALUATIONS:]))


# cheetah-vel: PEARL's published mean at 0.5 M is −44.6 (seeds −51.8 … −41.8); the paper sets
# MIER-wR beside it. The oracle is the same SAC told the target velocity.
CHEETAH_SEEDS = (0, 1, 2)
CHEETAH_MIER_WR_MIN = -52.0
CHEETAH_ORACLE_GAP = 15.0
WALKER_MIER_WR_MIN = 220.0
ORACLE = ("--model.init_args.context_source", "oracle")


@pytest.mark.slow
def test_cheetah_vel_mier_wr_reaches_pearls_logs_and_the_oracle(tmp_path):
    commands = {}
    for seed in CHEETAH_SEEDS:
        commands[f"mier_s{seed}"] = fit_command(tmp_path, "cheetah_vel.yaml", "adapted", seed)
        commands[f"oracle_s{seed}"] = fit_command(
            tmp_path, "cheetah_vel.yaml", "oracle", seed, *ORACLE
        )
    run_all(tmp_path, commands)
    mier = [final_test_return(tmp_path / "adapted" / f"s{s}") for s in CHEETAH_SEEDS]
    oracle = [final_test_return(tmp_path / "oracle" / f"s{s}") for s in CHEETAH_SEEDS]
    assert np.mean(mier) >= CHEETAH_MIER_WR_MIN, (mier, oracle)
    assert np.mean(oracle) - np.mean(mier) <= CHEETAH_ORACLE_GAP, (mier, oracle)


@pytest.mark.slow
def test_walker_rand_params_mier_wr_reaches_pearls_logs(tmp_path):
    run_all(tmp_path, {"mier_s0": fit_command(tmp_path, "walker_params.yaml", "adapted", 0)})
    mier_wr = final_test_return(tmp_path / "adapted" / "s0")
    assert mier_wr >= WALKER_MIER_WR_MIN, mier_wr
