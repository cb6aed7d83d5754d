"""Resumes that never lose or mix progress: what ``fit --ckpt_path`` refuses, and which
checkpoint ``--ckpt_path last`` takes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mier_pl.cli.resume import last_checkpoints
from tests.conftest import fit_debug, read_metrics


def _fit(run_cli, *extra: str, config: str = "point_goal.yaml"):
    return fit_debug(run_cli, config, *extra, epochs=None)


@pytest.fixture
def trained(run_cli) -> Path:
    """last.ckpt of a one-epoch point-goal debug fit in the test's directory."""
    cli = _fit(run_cli, "--trainer.max_epochs", "1")
    return Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"


def _damaged(trained: Path, tmp_path: Path, damage: str) -> Path:
    saved = torch.load(trained, weights_only=True)
    if damage == "no replay":
        del saved["ReplayDataModule"]
    elif damage == "nan weight":
        next(iter(saved["state_dict"].values())).view(-1)[0] = float("nan")
    elif damage == "inf replay":
        saved["ReplayDataModule"]["replay"]["rew"][0, 0] = float("inf")
    elif damage == "negative counter":
        saved["ReplayDataModule"]["replay"]["added"][3] = -1
    elif damage == "more replay than env steps":
        saved["ReplayDataModule"]["collector"]["env_steps"] = 10
    path = tmp_path / "damaged.ckpt"
    torch.save(saved, path)
    return path


@pytest.mark.parametrize(
    "damage, named",
    [
        ("no replay", "lacks ReplayDataModule (a partial checkpoint)"),
        ("nan weight", "holds 1 non-finite value(s) in state_dict."),
        ("inf replay", "holds 1 non-finite value(s) in ReplayDataModule.replay.rew"),
        ("negative counter", "has negative replay counters in added"),
        ("more replay than env steps", "replay transitions but counts only 10 env steps"),
    ],
)
def test_a_partial_or_damaged_checkpoint_is_refused_in_one_line(
    run_cli, trained, tmp_path, damage, named
):
    bad = _damaged(trained, tmp_path, damage)
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "--trainer.max_epochs", "2", "--ckpt_path", bad)
    msg = str(exc.value)
    assert msg.startswith(f"error: checkpoint {bad} ") and "\n" not in msg
    assert named in msg and "it is damaged and cannot be resumed" in msg
    assert sorted(p.name for p in trained.parents[2].iterdir()) == ["version_0"]  # no new run


@pytest.mark.parametrize(
    "flag, value", [("max_epochs", "0"), ("limit_train_batches", "0"), ("max_steps", "0")]
)
def test_a_budget_that_trains_nothing_is_refused_before_any_run(run_cli, tmp_path, flag, value):
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, f"--trainer.{flag}", value)
    assert str(exc.value) == (
        f"error: --trainer.{flag} {value} trains nothing (no epoch, no checkpoint); pass a "
        f"positive --trainer.{flag}, or leave it out for the config's schedule"
    )
    assert not (tmp_path / "lightning_logs").exists()


def test_a_plain_resume_reports_no_change(run_cli, trained, capsys):
    capsys.readouterr()
    _fit(run_cli, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    out = capsys.readouterr().out
    assert f"resuming from {trained}" in out
    assert "this config changes" not in out  # task_encoding_dim 2 → 0 was reported before


def test_a_copied_run_resumes_twice_in_place_with_one_last_ckpt(run_cli, trained, tmp_path):
    """cp -r version_0 version_1 (new mtimes), then --ckpt_path last twice: both resumes take
    the copy's newest progress, write only last.ckpt and log each epoch once."""
    copy = trained.parents[2] / "version_1"
    shutil.copytree(trained.parents[1], copy, copy_function=shutil.copy)
    first = _fit(run_cli, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert Path(first.trainer.log_dir) == copy
    second = _fit(run_cli, "--trainer.max_epochs", "3", "--ckpt_path", "last")
    assert Path(second.trainer.log_dir) == copy
    assert sorted(p.name for p in (copy / "checkpoints").iterdir()) == ["last.ckpt"]
    saved = torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (2, 3 * 12)  # 12 optimiser steps an epoch
    rows = read_metrics(copy / "metrics.csv")
    epochs = [int(r["epoch"]) for r in rows if r.get("progress/env_steps")]
    assert epochs == [0, 1, 2]
    original = torch.load(trained, weights_only=True)
    assert original["epoch"] == 0  # the original run was only read


def test_ckpt_path_last_takes_the_most_progress_in_a_run(trained):
    """A run that an older version resumed after a move holds last.ckpt and last-v1.ckpt."""
    saved = torch.load(trained, weights_only=True)
    saved["global_step"] += 12
    saved["epoch"] += 1
    torch.save(saved, trained.with_name("last-v1.ckpt"))
    trained.touch()  # the older one written last: its mtime does not decide
    assert last_checkpoints(trained.parents[2], None) == [trained.with_name("last-v1.ckpt")]


def test_a_multi_rank_checkpoint_on_fewer_devices_is_refused_in_one_line(
    run_cli, trained, tmp_path
):
    saved = torch.load(trained, weights_only=True)
    saved["ReplayDataModule"].update(world_size=2, global_step=saved["global_step"])
    two = tmp_path / "two_ranks.ckpt"
    torch.save(saved, two)
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "--trainer.max_epochs", "2", "--ckpt_path", two)
    assert str(exc.value) == (
        f"error: checkpoint {two} holds the replay of 2 rank(s) but this run would have 1; "
        "resume with --trainer.devices × --trainer.num_nodes = 2 (and the run's "
        "--trainer.accelerator), or every rank's replay but rank 0's would be lost"
    )
