"""Counting host syncs per training step with a ``TorchDispatchMode`` (issue 19).

A host sync (``.item()``, ``bool(t)``, a data-dependent shape, a device→host copy) stalls a GPU
step until every queued kernel has run. :class:`SyncCounter` sees them on the CPU too (except
device→host copies, which need a device): each sync is charged to the training step during
which it happened (:class:`MarkSteps`). Used by tests/modules/test_host_syncs.py and
tests/fast/test_cuda_graph.py.
"""

from __future__ import annotations

import traceback
from collections import defaultdict

import torch
from pytorch_lightning.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode

import mier_pl.cli.main as cli

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
# A tensor made from Python data (``torch.tensor(x)``): on a GPU, a host→device copy from
# pageable memory, which a CUDA graph capture cannot hold (counted with ``host_to_device``).
FROM_PYTHON = {"aten.lift_fresh.default", "aten.lift_fresh_copy.default"}
WRAPPERS = ("torch/_dynamo/", "torch/_compile.py")  # between an op's caller and the mode


class SyncCounter(TorchDispatchMode):
    """Counts syncs per ``(epoch, batch_idx)`` while a training step is running."""

    def __init__(
        self, host_side: tuple[str, ...] = HOST_SIDE, host_to_device: bool = False
    ) -> None:
        """``host_side``: callers whose syncs are host-side reads, not device syncs (pass ``()``
        where every optimiser keeps its step counts on the device). ``host_to_device``: also
        count tensors made from Python data (:data:`FROM_PYTHON`)."""
        super().__init__()
        self.host_side = host_side
        self.ops = SYNC_OPS | (FROM_PYTHON if host_to_device else set())
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
        if name in self.ops or to_host:
            caller = next(
                f
                for f in reversed(traceback.extract_stack())
                if f.filename != __file__ and not any(w in f.filename for w in WRAPPERS)
            )
            if not any(part in caller.filename for part in self.host_side):
                self.syncs[self.step].append(f"{name} from {caller.filename}:{caller.lineno}")
        return out


class MarkSteps(Callback):
    def __init__(self, counter: SyncCounter) -> None:
        self.counter = counter

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.counter.step = (trainer.current_epoch, batch_idx)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.counter.step = None  # collection, evaluation and checkpoints are not steps


def add_fit_callbacks(monkeypatch, *callbacks: Callback) -> None:
    """Add ``callbacks`` to the trainer of every CLI run that follows (in-process ``run_cli``)."""
    instantiate = cli.MIERCLI._instantiate_trainer
    monkeypatch.setattr(
        cli.MIERCLI,
        "_instantiate_trainer",
        lambda self, config, given: instantiate(self, config, [*given, *callbacks]),
    )


def count_syncs_in_fit(monkeypatch, counter: SyncCounter) -> None:
    """Charge ``counter``'s syncs to the training steps of every CLI ``fit`` that follows."""
    add_fit_callbacks(monkeypatch, MarkSteps(counter))
