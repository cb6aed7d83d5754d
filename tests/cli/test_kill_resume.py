"""A run killed with SIGKILL resumes from last.ckpt, replay included.

The kill point (epoch, batch or checkpoint save) is drawn from ``MIER_KILL_SEED`` (default 0),
so a failure replays: the assertion message names the seed and the point.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import CONF, ROOT, read_metrics

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


def _wait_for(path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert path.exists(), f"no {path.name} within {seconds} s"


def test_a_second_writer_is_refused_and_sigterm_names_the_exact_resume(tmp_path):
    """Fit A trains; B (`--ckpt_path last`, the same root) is refused in one line naming A;
    A, stopped by SIGTERM, exits 143 and prints the command that resumes it, which continues
    its counters and epochs with no epoch logged twice."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    a = subprocess.Popen(
        _fit_cmd("--trainer.max_epochs", "1000"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = tmp_path / "lightning_logs" / "point-rotated" / "version_0"
    _wait_for(run / "checkpoints" / "last.ckpt", a)
    b = subprocess.run(
        _fit_cmd("--trainer.max_epochs", "1000", "--ckpt_path", "last"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert b.returncode != 0
    # Lightning's own "Seed set to 0" log comes first; then the refusal, alone.
    (line,) = [ln for ln in b.stderr.strip().splitlines() if not ln.startswith("Seed set")]
    assert "resuming" not in b.stdout
    assert line.startswith(f"error: {run.resolve()} is being written by process {a.pid}")
    a.send_signal(signal.SIGTERM)
    _, err = a.communicate(timeout=120)
    assert a.returncode == 128 + signal.SIGTERM
    stop = next(ln for ln in err.splitlines() if ln.startswith("fit stopped by SIGTERM"))
    command = stop.split("resume with: ", 1)[1].split()
    ckpt = run / "checkpoints" / "last.ckpt"
    assert command[-4:] == [
        "--ckpt_path",
        str(ckpt.relative_to(tmp_path)),
        "--trainer.logger.init_args.version",
        "0",
    ]
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    done = saved["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    steps = saved["ReplayDataModule"]["collector"]["env_steps"]

    resumed = command[3:]  # after "python -m mier_pl"; one more epoch than A finished
    resumed[resumed.index("1000")] = str(done + 1)
    out = subprocess.run(
        [sys.executable, "-m", "mier_pl", *resumed],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    after = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert after["ReplayDataModule"]["collector"]["env_steps"] == steps + 2 * 40
    rows = read_metrics(run / "metrics.csv")
    epochs = [int(r["epoch"]) for r in rows if r.get("progress/env_steps")]
    assert epochs == sorted(set(epochs)) and epochs[-1] == done  # each epoch once, in order
    assert sorted(p.name for p in run.parent.iterdir()) == ["version_0"]
