"""Training steps never wait for the device except on Lightning's logging steps.

A host sync (``.item()``, ``bool(t)``, a data-dependent shape, a device→host copy) stalls a GPU
step until every queued kernel has run. Counted here on the CPU with a ``TorchDispatchMode``
over a whole ``fit`` with production logging (``log_every_n_steps`` 50, the progress bar on):
each sync is charged to the training step during which it happened.
"""

from __future__ import annotations

import traceback
from collections import defaultdict

import pytest
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode

import mier_pl.cli as cli
from tests.conftest import CONF

# aten ops that make the host wait for the device (data-dependent output sizes included).
SYNC_OPS = {
    "aten._local_scalar_dense.default",
    "aten.nonzero.default",
    "aten.masked_select.default",
    "aten.unique_consecutive.default",
    "aten._unique2.default",
}
# Non-capturable Adam keeps its step counts on the host (a CPU tensor even for CUDA
# parameters), so its ``.item()`` on them is no device sync; only on a CPU it looks like one.
HOST_SIDE = ("torch/optim/",)
WRAPPERS = ("torch/_dynamo/", "torch/_compile.py")  # between an op's caller and the mode


class SyncCounter(TorchDispatchMode):
    """Counts syncs per ``(epoch, batch_idx)`` while a training step is running."""

    def __init__(self) -> None:
        super().__init__()
        self.step: tuple[int, int] | None = None
        self.syncs: dict[tuple[int, int], list[str]] = defaultdict(list)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.step is None:
            return out
        name = str(func)
        to_host = (
            name == "aten._to_copy.default"
            and isinstance(args[0], torch.Tensor)
            and args[0].device.type != "cpu"
            and isinstance(out, torch.Tensor)
            and out.device.type == "cpu"
        )
        if name in SYNC_OPS or to_host:
            caller = next(
                f
                for f in reversed(traceback.extract_stack())
                if f.filename != __file__ and not any(w in f.filename for w in WRAPPERS)
            )
            if not any(part in caller.filename for part in HOST_SIDE):
                self.syncs[self.step].append(f"{name} from {caller.filename}:{caller.lineno}")
        return out


class _MarkSteps(Callback):
    def __init__(self, counter: SyncCounter) -> None:
        self.counter = counter

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.counter.step = (trainer.current_epoch, batch_idx)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.counter.step = None  # collection, evaluation and checkpoints are not steps


@pytest.mark.parametrize("overlay", [None, "model_only.yaml"])
def test_training_steps_sync_only_when_lightning_logs(run_cli, monkeypatch, overlay):
    """60 steps per epoch, 2 epochs: Lightning logs after batches 49 and 99 counted across
    epochs (epoch 0's 49, epoch 1's 39) and the FiniteGuard checks on those and on each
    epoch's last step; every other step makes no sync (the model-only fit used to put its loss
    on the progress bar: a sync in every step)."""
    counter = SyncCounter()
    instantiate = cli.MIERCLI._instantiate_trainer
    monkeypatch.setattr(
        cli.MIERCLI,
        "_instantiate_trainer",
        lambda self, config, callbacks: instantiate(
            self, config, [*callbacks, _MarkSteps(counter)]
        ),
    )
    configs = ["--config", CONF / "point_rotated.yaml", "--config", CONF / "debug.yaml"]
    if overlay:
        configs += ["--config", CONF / overlay]
    with counter:
        run_cli(
            "fit",
            *configs,
            "--trainer.max_epochs",
            "2",
            "--trainer.log_every_n_steps",
            "50",
            "--data.steps_per_epoch",
            "60",
            "--model.init_args.eval.interval",
            "0",
        )
    allowed = {(0, 49), (0, 59), (1, 39), (1, 59)}
    unexpected = {step: calls for step, calls in counter.syncs.items() if step not in allowed}
    assert not unexpected, unexpected
    # The counter sees syncs: Lightning's conversion of the logged metrics, the guard's check.
    assert counter.syncs[(0, 49)] and counter.syncs[(1, 39)]
