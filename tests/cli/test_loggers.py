"""Logging: TensorBoard + CSV in one run directory; W&B offline with no account; install hint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import CONF, metric_series, read_metrics

FIT = (
    "fit",
    "--config",
    CONF / "point_goal.yaml",
    "--config",
    CONF / "debug.yaml",
    "--trainer.enable_progress_bar",
    "false",
)


def test_tensorboard_and_csv_share_the_run_directory(run_cli):
    cli = run_cli(*FIT)
    log_dir = Path(cli.trainer.log_dir)
    assert log_dir.parts[-2:] == ("point-goal", "version_0")
    assert list(log_dir.glob("events.out.tfevents.*"))
    rows = read_metrics(log_dir / "metrics.csv")
    env_steps = metric_series(rows, "progress/env_steps")
    # 40 tasks × 20 exploration steps, then 2 tasks × (20 + 20) per epoch
    assert env_steps == [880.0, 960.0]


def test_wandb_offline_needs_no_account(run_cli, monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run_cli(*FIT, "--config", CONF / "logger" / "wandb.yaml")
    runs = list((tmp_path / "lightning_logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1


def test_missing_wandb_names_the_extra(monkeypatch):
    from mier_pl.cli.loggers import WandbLogger

    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install 'mier-pl\[wandb\]'"):
        WandbLogger(project="x")


def test_eval_returns_are_also_keyed_by_env_steps_in_tensorboard(run_cli):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cli = run_cli(*FIT)
    events = EventAccumulator(cli.trainer.log_dir)
    events.Reload()
    by_steps = events.Scalars("by_env_steps/eval/test_return_mier_wr")
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    assert [e.step for e in by_steps] == [880, 960]  # progress/env_steps after each epoch
    assert [e.value for e in by_steps] == pytest.approx(
        metric_series(rows, "eval/test_return_mier_wr")
    )
    # the optimiser-step series is still there, unchanged
    assert len(events.Scalars("eval/test_return_mier_wr")) == 2
    # the identification diagnostics beside them, on the same axis
    probe = events.Scalars("by_env_steps/diag/probe_r2_test")
    assert [e.step for e in probe] == [880, 960]
    assert [e.value for e in probe] == pytest.approx(metric_series(rows, "diag/probe_r2_test"))


def test_wandb_plots_eval_returns_against_env_steps(monkeypatch):
    pytest.importorskip("wandb")
    from pytorch_lightning.loggers import wandb as lightning_wandb

    from mier_pl.cli.loggers import WandbLogger

    calls = []

    class FakeRun:
        def define_metric(self, name, **kwargs):
            calls.append((name, kwargs.get("step_metric")))

    logger = WandbLogger(offline=True)
    monkeypatch.setattr(lightning_wandb.WandbLogger, "experiment", property(lambda self: FakeRun()))
    first, again = logger.experiment, logger.experiment  # the axis is defined once
    assert isinstance(first, FakeRun) and isinstance(again, FakeRun)
    assert calls == [
        ("progress/env_steps", None),
        ("eval/*", "progress/env_steps"),
        ("diag/*", "progress/env_steps"),
        ("train/episode_return", "progress/env_steps"),
    ]
