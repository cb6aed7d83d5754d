"""A run killed with SIGKILL at an arbitrary moment resumes from last.ckpt, replay included."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import torch

from tests.conftest import CONF


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


def test_sigkill_then_resume_loses_at_most_the_current_epoch(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _fit_cmd("--trainer.max_epochs", "1000"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = tmp_path / "lightning_logs" / "point-rotated" / "version_0" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), "no checkpoint within 120 s"
    time.sleep(random.uniform(1.0, 3.0))  # kill somewhere in a later epoch or save
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    state = torch.load(ckpt, weights_only=True, map_location="cpu")  # never half-written
    done_epochs = state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    env_steps = state["ReplayDataModule"]["collector"]["env_steps"]
    assert done_epochs >= 1
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
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = torch.load(ckpt, weights_only=True, map_location="cpu")
    # two more epochs of collection (2 tasks × 40 steps each) on top of the saved counters
    assert resumed["ReplayDataModule"]["collector"]["env_steps"] == env_steps + 2 * 2 * 40
    assert int(resumed["ReplayDataModule"]["replay"]["added"].sum()) == env_steps + 2 * 2 * 40
    assert resumed["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == target
    # the resumed run logs on in the same run directory
    assert not (tmp_path / "lightning_logs" / "point-rotated" / "version_1").exists()
