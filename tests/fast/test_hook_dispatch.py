"""mier_pl/fast/hook_dispatch.py and the cached checkpoint key: the same hooks, cheaper dispatch."""

from __future__ import annotations

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.profilers import SimpleProfiler

from mier_pl.callbacks.checkpoint import LastCheckpoint
from mier_pl.fast.hook_dispatch import NullProfiler, PlainHookName
from tests.conftest import fit_debug


class _Net(PlainHookName, torch.nn.Module):
    pass


def test_plain_hook_name_skips_module_bookkeeping_but_not_for_parameters():
    net = _Net()
    net._current_fx_name = "on_before_backward"
    assert net.__dict__["_current_fx_name"] == "on_before_backward"
    net.weight = torch.nn.Parameter(torch.ones(2))  # still registered by nn.Module
    net.inner = torch.nn.Linear(2, 2)
    assert [n for n, _ in net.named_parameters()] == ["weight", "inner.weight", "inner.bias"]
    assert "weight" not in net.__dict__ and "inner" not in net.__dict__


def test_null_profiler_hands_out_one_shared_context():
    profiler = NullProfiler()
    with profiler.profile("[Callback]x.on_after_backward") as a:
        pass
    assert a is None and profiler.profile("a") is profiler.profile("b")


def test_cached_state_key_is_lightnings_and_follows_its_settings(tmp_path):
    ours = LastCheckpoint(dirpath=tmp_path, every_n_epochs=2)
    theirs = ModelCheckpoint(dirpath=tmp_path, every_n_epochs=2)
    assert ours.state_key == theirs.state_key.replace("ModelCheckpoint", "LastCheckpoint")
    ours._every_n_epochs = 5
    assert "'every_n_epochs': 5" in ours.state_key


def test_fits_use_the_null_profiler_unless_one_is_asked_for(run_cli, monkeypatch):
    from mier_pl.data.batch import MetaBatch
    from mier_pl.data.datamodule import ReplayDataModule

    moved: list[type] = []
    transfer = ReplayDataModule.transfer_batch_to_device
    monkeypatch.setattr(
        ReplayDataModule,
        "transfer_batch_to_device",
        lambda self, b, device, i: moved.append(type(b)) or transfer(self, b, device, i),
    )
    cli = fit_debug(run_cli)
    assert type(cli.trainer.profiler) is NullProfiler
    # Lightning hands every training batch to the data module's transfer hook.
    batches = cli.trainer.fit_loop.epoch_loop.batch_progress.total.completed
    assert moved == [MetaBatch] * batches and batches > 0
    cli = fit_debug(run_cli, "point_rotated.yaml", "--trainer.profiler", "simple")
    profiler = cli.trainer.profiler
    assert isinstance(profiler, SimpleProfiler)
    # A profiler given on the command line still sees every callback hook.
    assert any(name.endswith(".on_before_backward") for name in profiler.recorded_durations)
    assert any(name.endswith(".on_train_batch_end") for name in profiler.recorded_durations)


def test_our_batches_move_themselves_and_others_take_lightnings_path():
    from mier_pl.data.batch import MetaBatch, TransitionBatch
    from mier_pl.data.datamodule import ReplayDataModule

    module = ReplayDataModule("point-goal", capacity=10)

    def batch(n: int) -> TransitionBatch:
        z = torch.zeros(n)
        return TransitionBatch(torch.zeros(n, 2), torch.zeros(n, 2), z, torch.zeros(n, 2), z, z)

    meta = MetaBatch(torch.tensor([0, 1]), batch(3), batch(4))
    cpu = torch.device("cpu")
    assert module.transfer_batch_to_device(meta, cpu, 0) is meta  # already there: no copy
    moved = module.transfer_batch_to_device(meta, torch.device("meta"), 0)
    assert moved.query.obs.device.type == "meta" and moved.task_ids.device.type == "meta"
    other = module.transfer_batch_to_device({"ids": torch.ones(2)}, torch.device("meta"), 0)
    assert other["ids"].device.type == "meta"
