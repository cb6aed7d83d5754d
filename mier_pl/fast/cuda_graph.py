"""A training step replayed as one CUDA graph (``--model.init_args.cuda_graph true``; docs/scaling.md).

A MIER step is about 800 small kernels (the second-order inner loop, the outer Adam step, the
critic, actor and α steps); on a GPU their launches cost more than their arithmetic.
``torch.compile`` cannot take the double backward, but ``torch.cuda.graph`` records the
launches of one eager step and replays them with one call. :class:`GraphedStep` follows the
recipe of https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs: a few eager warm-up
steps on a side stream, one capture on that stream, then per step: copy the new batch into
the static input buffers (``copy_``) and replay.

What the captured step must be, and where each piece makes it so:

- no host sync and no Python branch on a tensor value (``MIERModule.update``: the
  pre-adaptation diagnostics are computed in every step, not only on logging steps);
- its state updated in place: parameters, capturable Adam states (step counts on the device,
  :func:`capturable`), target critics (``soft_update``) and
  :class:`~mier_pl.modules.common.FiniteGuard` (``record_values`` inside, ``label`` outside);
- fixed input and output memory: the static batch here, the captured outputs;
- Python side effects (Lightning's optimiser-step counters, hooks) happen only when the
  Python runs, at warm-up and capture; :meth:`GraphedStep.__call__` says whether it did, and
  the module advances the counters itself on replays.

``capture=False`` is the rehearsal: the same step on the same static buffers, run eagerly each
call (any device), with its outputs copied into fixed tensors: what the tests on a CPU check
(tests/fast/test_cuda_graph.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import torch
from torch import Tensor

from mier_pl.data.batch import MetaBatch, TransitionBatch

# Eager steps before the capture: the docs' recipe uses 3 (11 under DDP, which we refuse).
WARMUP_STEPS = 3


class GraphStepUnsupported(RuntimeError):
    """``cuda_graph`` asked for where a captured step cannot work; the message names the fix."""


def graph_step_problem(device_type: str, precision: str, world_size: int) -> str | None:
    """Why ``cuda_graph`` cannot run with these trainer settings, naming the fix; None if it can."""
    off = "or drop --model.init_args.cuda_graph (the ordinary step runs everywhere)"
    if device_type != "cuda":
        return (
            f"--model.init_args.cuda_graph true needs a CUDA device, but this run trains on "
            f"{device_type!r}: pass --trainer.accelerator gpu on a machine with a GPU, {off}"
        )
    if precision not in ("32-true", "32"):
        return (
            f"--model.init_args.cuda_graph true supports --trainer.precision 32-true only, not "
            f"{precision!r}: under 16-mixed the GradScaler reads its overflow flag on the host "
            f"every step (a sync a graph cannot hold) and mixed-precision autocast caches are "
            f"not graph-safe; pass --trainer.precision 32-true, {off}"
        )
    if world_size > 1:
        return (
            f"--model.init_args.cuda_graph true runs on one device, but this run has "
            f"{world_size} processes: DDP's gradient all-reduce is not captured here; pass "
            f"--trainer.devices 1, {off}"
        )
    return None


def capturable(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The same optimiser (kind, parameter groups, settings), fused and capturable: its step
    counts live on the device, so a CUDA graph can capture its step; the same maths."""
    flags = ("fused", "capturable")
    groups = [{k: v for k, v in g.items() if k not in flags} for g in optimizer.param_groups]
    return type(optimizer)(groups, **{**optimizer.defaults, "fused": True, "capturable": True})


def count_optimizer_steps(optimizers: Sequence[Any]) -> None:
    """Advance Lightning's step counters of ``optimizers`` (its ``LightningOptimizer``s) by one
    step each, as their ``step()`` would have: a replayed graph runs no Python (private API)."""
    for optimizer in optimizers:
        optimizer._on_before_step()
        optimizer._on_after_step()


def states_to_param_devices_(optimizer: torch.optim.Optimizer) -> None:
    """Move every state tensor (``step`` included) onto its parameter's device, in place.

    A checkpoint of the ordinary step keeps Adam's step counts on the host, and
    ``load_state_dict`` places them by the *saved* groups' ``capturable`` flag, so resuming it
    with ``cuda_graph`` would leave them there (ConfiguredOptimizerSettings sets the flags back
    only afterwards). Capturable and fused Adam keep them as float32 on the device.
    """
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.device != param.device:
                dtype = torch.float32 if key == "step" else value.dtype
                state[key] = value.to(param.device, dtype)


def batch_tensors(batch: MetaBatch) -> dict[str, Tensor]:
    """A meta-batch's tensors by name (``task_ids``, ``support.obs``, ..., ``query.truncated``)."""
    out = {"task_ids": batch.task_ids}
    for half in ("support", "query", "context_support"):  # the last only when drawn
        part = getattr(batch, half)
        if part is not None:
            out.update({f"{half}.{f.name}": getattr(part, f.name) for f in fields(TransitionBatch)})
    return out


def copy_batch_(static: MetaBatch, batch: MetaBatch) -> None:
    """Fill ``static``'s tensors with ``batch``'s, in place; raise naming a shape that differs."""
    sources, targets = batch_tensors(batch), batch_tensors(static)
    if sources.keys() != targets.keys():
        raise ValueError(
            "cuda_graph: this meta-batch has the parts "
            f"{sorted({k.split('.')[0] for k in sources})} but the captured step was built for "
            f"{sorted({k.split('.')[0] for k in targets})}"
        )
    for name, dst in targets.items():
        src = sources[name]
        if dst.shape != src.shape:
            raise ValueError(
                f"cuda_graph: meta-batch {name} has shape {tuple(src.shape)} but the captured "
                f"step was built for {tuple(dst.shape)}; a captured step needs fixed batch shapes"
            )
        dst.copy_(src)


class GraphedStep:
    """``step(static batch) -> outputs`` on fixed memory, captured once and replayed (CUDA) or
    rehearsed eagerly (``capture=False``).

    Args:
        step: the training step's maths on a meta-batch; returns scalar tensors. It must be
            capture-safe (see the module docstring); it reads only the batch it is given.
        capture: capture a CUDA graph after ``warmup`` eager steps (CUDA only); False: run
            ``step`` eagerly on the static buffers every call.
        warmup: eager steps on the side stream before the capture.
    """

    def __init__(
        self,
        step: Callable[[MetaBatch], dict[str, Tensor]],
        capture: bool,
        warmup: int = WARMUP_STEPS,
    ) -> None:
        self.step, self.capture, self.warmup = step, capture, warmup
        self.inputs: MetaBatch | None = None  # the static batch, allocated from the first one
        self.outputs: dict[str, Tensor] = {}
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, batch: MetaBatch) -> tuple[dict[str, Tensor], bool]:
        """One training step on ``batch``: ``(outputs, replayed)``.

        ``outputs`` are the same tensors every call (read them before the next call);
        ``replayed`` is True when the step ran as a graph replay, so its Python (optimiser
        hooks, Lightning's counters) did not run.
        """
        if self.inputs is None:
            self.inputs = batch.clone()
        else:
            copy_batch_(self.inputs, batch)
        self.calls += 1
        if not self.capture:
            self._keep(self.step(self.inputs))
            return self.outputs, False
        if self.graph is not None:
            self.graph.replay()
            return self.outputs, True
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        stream = self._stream
        stream.wait_stream(torch.cuda.current_stream())
        if self.calls <= self.warmup:  # eager, on the stream the capture will use
            with torch.cuda.stream(stream):
                self._keep(self.step(self.inputs))
            torch.cuda.current_stream().wait_stream(stream)
            return self.outputs, False
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            captured = self.step(self.inputs)  # recorded, not run
        self.graph, self.outputs = graph, captured
        graph.replay()  # this step's update
        return self.outputs, False  # its Python ran once, at the capture

    def _keep(self, outputs: dict[str, Tensor]) -> None:
        """Copy an eager step's outputs into fixed tensors (allocated on the first step)."""
        if not self.outputs:
            self.outputs = {k: v.detach().clone() for k, v in outputs.items()}
            return
        for key, value in outputs.items():
            self.outputs[key].copy_(value.detach())
