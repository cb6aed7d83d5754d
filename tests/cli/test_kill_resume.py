"""A run killed with SIGKILL resumes from last.ckpt, replay included.

The kill point (epoch, batch or checkpoint save) is drawn from ``MIER_KILL_SEED`` (default 0),
so a failure replays: the assertion message names the seed and the point.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
import torch

from tests.conftest import CONF, ROOT

pytestmark = pytest.mark.e2e
SEED = int(os.environ.get("MIER_KILL_SEED", "0"))


def _fit_cmd(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mier_pl",
        "fit",
        "--config",
        str(CONF / "point_rotated.yaml"),
        "--config",
        str(CONF / "debug.yaml"),
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]


def kill_point(seed: int) -> dict:
    """Where the run kills itself: an epoch after the first checkpoint, a batch of the debug
    overlay's 4 per epoch, or the epoch's checkpoint save."""
    rng = random.Random(seed)
    return {
        "epoch": rng.randint(1, 3),
        "batch": rng.randrange(4),
        "where": rng.choice(["batch", "save"]),
    }


def test_sigkill_then_resume_loses_at_most_the_current_epoch(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    point = kill_point(SEED)
    killer = {"class_path": "tests.cli.kill_point.KillAt", "init_args": point}
    where = f"MIER_KILL_SEED={SEED}: killed at {point}"
    proc = subprocess.run(
        _fit_cmd("--trainer.max_epochs", "1000", "--trainer.callbacks+", json.dumps(killer)),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, f"{where}: exit {proc.returncode} {proc.stderr[-2000:]}"
    ckpt = tmp_path / "lightning_logs" / "point-rotated" / "version_0" / "checkpoints" / "last.ckpt"
    assert ckpt.exists(), where

    state = torch.load(ckpt, weights_only=True, map_location="cpu")  # never half-written
    done_epochs = state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    env_steps = state["ReplayDataModule"]["collector"]["env_steps"]
    assert done_epochs == point["epoch"], where  # every finished epoch saved, no more
    assert int(state["ReplayDataModule"]["replay"]["added"].sum()) == env_steps

    target = done_epochs + 2
    out = subprocess.run(
        _fit_cmd("--trainer.max_epochs", str(target), "--ckpt_path", "last"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"{where}: {out.stderr[-3000:]}"
    resumed = torch.load(ckpt, weights_only=True, map_location="cpu")
    # two more epochs of collection (2 tasks × 40 steps each) on top of the saved counters
    assert resumed["ReplayDataModule"]["collector"]["env_steps"] == env_steps + 2 * 2 * 40
    assert int(resumed["ReplayDataModule"]["replay"]["added"].sum()) == env_steps + 2 * 2 * 40
    assert resumed["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == target
    # the resumed run logs on in the same run directory
    assert not (tmp_path / "lightning_logs" / "point-rotated" / "version_1").exists()
