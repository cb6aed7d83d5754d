"""Two-process DDP meta-training on the CPU (gloo), launched through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy, SingleDeviceStrategy

from tests.conftest import CONF, fit_debug

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("ddp_fit.py")


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(SCRIPT),
        "fit",
        "--config",
        str(CONF / "point_rotated.yaml"),
        "--config",
        str(CONF / "debug.yaml"),
        "--config",
        str(CONF / "strategy" / "ddp.yaml"),
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_two_rank_fit_syncs_parameters_and_keeps_separate_replays(tmp_path):
    out = _run(tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    r0, r1 = (torch.load(tmp_path / f"rank{k}.pt", weights_only=True) for k in (0, 1))
    # gradients are averaged, so every parameter (and target network) is identical
    for name, value in r0["params"].items():
        assert torch.equal(value, r1["params"][name]), name
    # ranks explore with different seeds: their replays differ, with the same counts
    assert r0["env_steps"] == r1["env_steps"] == 20 * 20 + 2 * 2 * 40
    assert int(r0["added"].sum()) == int(r1["added"].sum())
    assert not torch.equal(r0["added"], r1["added"])  # each rank drew its own epoch tasks
    assert not torch.equal(r0["obs"][:20], r1["obs"][:20])  # and explored with its own actions
    ckpt_dir = tmp_path / "lightning_logs" / "point-rotated" / "version_0" / "checkpoints"
    assert (ckpt_dir / "last.ckpt").is_file() and (ckpt_dir / "replay_rank1.pt").is_file()

    # resume both ranks, each with its own replay
    out = _run(tmp_path, "--trainer.max_epochs", "3", "--ckpt_path", "last")
    assert out.returncode == 0, out.stderr[-4000:]
    s0, s1 = (torch.load(tmp_path / f"rank{k}.pt", weights_only=True) for k in (0, 1))
    assert s0["env_steps"] == s1["env_steps"] == r0["env_steps"] + 2 * 40
    assert torch.equal(s1["obs"][: len(r1["obs"])], r1["obs"])  # rank 1's own data came back
    for name, value in s0["params"].items():
        assert torch.equal(value, s1["params"][name]), name

    # adapt reads the DDP checkpoint (rank 0's replay) like any other
    ckpt = ckpt_dir / "last.ckpt"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mier_pl",
            "adapt",
            "--config",
            str(CONF / "point_rotated.yaml"),
            "--config",
            str(CONF / "debug.yaml"),
            "--ckpt_path",
            str(ckpt),
            "--tasks",
            "0",
            "--trainer.enable_progress_bar",
            "false",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "lightning_logs" / "point-rotated" / "adapt_0" / "results.csv").is_file()


def _fit_debug(run_cli, *extra: str):
    return fit_debug(run_cli, "point_rotated.yaml", *extra, epochs=None)


def _instantiate(run_cli, monkeypatch, *extra: str):
    """The CLI up to a built trainer: ``fit`` itself is a no-op (no processes launched)."""
    from mier_pl.cli.adapt_trainer import MIERTrainer

    monkeypatch.setattr(MIERTrainer, "fit", lambda self, *args, **kwargs: None)
    return _fit_debug(run_cli, *extra)


@pytest.mark.parametrize(
    "flags",
    [
        ("--trainer.accelerator", "cpu", "--trainer.devices", "2"),
        ("--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "auto"),
        ("--trainer.accelerator", "cpu", "--trainer.num_nodes", "2"),
    ],
)
def test_several_devices_default_to_the_strategy_that_works(run_cli, monkeypatch, flags):
    """Without the overlay, Lightning's "auto" picks plain ddp, which fails at step 0."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cli = _instantiate(run_cli, monkeypatch, *flags)
    assert cli.config.fit.trainer.strategy == "ddp_find_unused_parameters_true"
    strategy = cli.trainer.strategy
    assert isinstance(strategy, DDPStrategy) and strategy.world_size == 2
    assert strategy._ddp_kwargs == {"find_unused_parameters": True}


def test_one_device_keeps_the_single_device_strategy(run_cli, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cli = _instantiate(run_cli, monkeypatch, "--trainer.accelerator", "cpu")
    assert cli.config.fit.trainer.strategy == "auto"
    assert isinstance(cli.trainer.strategy, SingleDeviceStrategy)


@pytest.mark.parametrize("plain", ["ddp", "ddp_spawn"])
def test_plain_ddp_is_refused_naming_the_flag(run_cli, monkeypatch, plain):
    with pytest.raises(SystemExit) as exc:
        _instantiate(run_cli, monkeypatch, "--trainer.devices", "2", "--trainer.strategy", plain)
    assert f"--trainer.strategy {plain}_find_unused_parameters_true" in str(exc.value)


@pytest.mark.parametrize(("prior_steps", "here"), [("20", (0.0, 0)), ("30", (60.0, 3))])
def test_every_rank_logs_the_episode_return_when_any_rank_finished_one(
    run_cli, monkeypatch, prior_steps, here
):
    """A stand-in for the reduce adds a rank 1. With 20 + 20 steps per task (horizon 30) this
    rank finishes no episode while rank 1 finished two (return 50 each): it must still log
    ``train/episode_return`` with sync_dist as rank 1 does, or their collectives differ (an
    NCCL hang); before, it skipped the log. With 30 prior steps both ranks finish episodes."""
    other = torch.tensor([100.0, 2.0])
    seen: list[torch.Tensor] = []
    synced: list[str] = []

    def reduce(self, tensor, *args, reduce_op="mean", **kwargs):
        if tensor.shape != (2,):  # Lightning's own reduces (dataloader lengths)
            return tensor
        seen.append(tensor.clone())
        return tensor + other if reduce_op == "sum" else tensor

    log = pl.LightningModule.log

    def record_log(self, name, value, *args, sync_dist=False, **kwargs):
        if sync_dist:
            synced.append(name)
        return log(self, name, value, *args, sync_dist=sync_dist, **kwargs)

    monkeypatch.setattr(SingleDeviceStrategy, "reduce", reduce)
    monkeypatch.setattr(pl.LightningModule, "log", record_log)
    cli = _fit_debug(
        run_cli,
        "--trainer.max_epochs",
        "1",
        "--model.init_args.eval.interval",
        "0",
        "--model.init_args.collect.prior_steps",
        prior_steps,
    )
    assert len(seen) == 1  # one reduce per epoch end, on every rank
    if here[1] == 0:
        assert seen[0].tolist() == [0.0, 0.0]  # this rank finished no episode
    else:
        assert seen[0][1].item() > 0
    assert synced.count("train/episode_return") == 1
    total, count = (seen[0] + other).tolist()
    assert cli.trainer.logged_metrics["train/episode_return"].item() == pytest.approx(total / count)
