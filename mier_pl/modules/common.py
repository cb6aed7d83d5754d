"""Small pieces shared by the LightningModules: config dataclasses and loss guards."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytorch_lightning as pl
import torch
from torch import Tensor

from mier_pl.data.checkpoint_io import describe_previous
from mier_pl.fast.step_logging import log_now
from mier_pl.ranges import NonNegativeInt, PositiveInt, check_ranges

C = TypeVar("C")


def as_config(cls: type[C], value: C | dict | None, **defaults: Any) -> C:
    """``value`` as a ``cls`` dataclass: a checkpoint's ``hyper_parameters`` hold plain dicts
    (so ``load_from_checkpoint`` and tools that rebuild a module from a checkpoint get them)."""
    if value is None:
        return cls(**defaults)
    if isinstance(value, dict):
        return cls(**{**defaults, **value})
    return dataclasses.replace(value)  # a copy: signature defaults are shared instances


@dataclass
class CollectConfig:
    """Data collection of Algorithm 1 (docs/algorithm.md §4).

    Attributes:
        initial_exploration_repeats: P-step rollouts per train task before training (5).
        tasks_per_epoch: train tasks drawn (with replacement) for each epoch's collection (5).
        prior_steps: P, steps per task with the prior context φ₀, into both buffers (400).
        posterior_steps: U, steps per task with the adapted context φ_T, full buffer only (600).
        adaptation_policy: what acts while the data φ is adapted on is gathered: the initial
            exploration, the P prior steps, evaluation's A steps and ``adapt``'s A real steps.
            "context" (release): the policy with φ₀. "uniform" (ours, an option): uniform
            random actions, so the pre-adapt buffer SAC's training contexts are adapted on and
            the fresh steps the acting contexts are adapted on come from one fixed policy
            (docs/learning.md has the measured ablation).
        act_on: where the policy acts in collection and evaluation: "device" (the training
            device) or "cpu", a CPU copy of the actor refreshed once per collection phase, so
            no host↔device copy per env step (for GPU runs; the benchmark's accelerations
            table measures it). Its exploration noise then comes from the CPU generator.
        max_env_steps: an env-step budget: meta-training stops after the epoch in which the
            env steps collected (exploration included, summed over ranks) reach it, with that
            epoch's evaluation; ``trainer.max_epochs`` still bounds it. None: no budget. The
            paper states its schedules in env steps (conf/budget/*.yaml).
    """

    initial_exploration_repeats: NonNegativeInt = 5
    tasks_per_epoch: PositiveInt = 5
    prior_steps: PositiveInt = 400
    posterior_steps: NonNegativeInt = 600
    adaptation_policy: Literal["context", "uniform"] = "context"
    act_on: Literal["device", "cpu"] = "device"
    max_env_steps: PositiveInt | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.collect")


@dataclass
class EvalConfig:
    """Evaluation during meta-training (docs/algorithm.md §4.2c).

    Attributes:
        interval: evaluate every this many epochs (0 disables evaluation).
        train_tasks: how many train tasks to evaluate (evenly spaced indices; 0 for none).
        test_tasks: how many test tasks to evaluate (None: all of them).
        adapt_steps: A, the steps with φ₀ that φ is adapted on before the evaluated episode
            (None: the data module's batch size, as the release).
        video_every: render the deterministic evaluated episode of ``video_tasks`` train and
            test tasks every this many evaluations (and at the last one) and log the videos
            to TensorBoard and W&B (0: never; docs/videos.md, mier_pl/data/video.py).
        video_tasks: how many of the evaluated tasks of each split to render (evenly spaced).
        video_width: frame width in pixels.
        video_height: frame height in pixels.
        probe_tasks: how many train tasks (evenly spaced; None: all) get a context for the
            identification diagnostics logged as ``diag/...`` at each evaluation: a linear
            probe from the context to the family's task encoding, fitted on these tasks
            (5-fold R²) and scored on every test task, the contexts' norms, and the adapted
            model's errors (docs/learning.md, "Identification diagnostics"). Each task costs
            A + ⌈A/4⌉ uncounted env steps and one adaptation, no episode (PEARL: its
            exploration episodes). 0: no diagnostics.
    """

    interval: NonNegativeInt = 10
    train_tasks: NonNegativeInt = 10
    test_tasks: NonNegativeInt | None = None
    adapt_steps: PositiveInt | None = None
    video_every: NonNegativeInt = 0
    video_tasks: NonNegativeInt = 2
    video_width: PositiveInt = 320
    video_height: PositiveInt = 240
    probe_tasks: NonNegativeInt | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.eval")


def manual_step(
    module: pl.LightningModule,
    optimizer: torch.optim.Optimizer,
    loss: Tensor,
    grad_clip: float | None = None,
) -> None:
    """One optimiser step on ``loss``: zero the gradients, backward, step; with ``grad_clip``,
    clip the global norm in between. The one way every module here steps an optimiser.

    ``module`` is the LightningModule taking the step: the module the Trainer runs or a
    child of it (Lightning gives child LightningModules their parent's
    Trainer), so ``manual_backward`` and ``optimizer.step()`` go through the Trainer's
    strategy and precision plugin (mixed precision, DDP). Outside a Trainer (plain PyTorch:
    unit tests, benchmarks) it is the same step with ``loss.backward()``.

    Under a Trainer the clip runs in the running module's ``on_before_optimizer_step``
    (:func:`clip_pending_gradients`), which Lightning's precision plugin calls inside
    ``optimizer.step()`` after unscaling the gradients. Clipping before ``optimizer.step()``
    clips the loss-scaled gradients under ``16-mixed``: a true norm of 5.9 was seen as 9.7e4
    at scale 16 384 and cut to 6e-4 (docs/scaling.md).
    """
    optimizer.zero_grad(set_to_none=True)
    if module._trainer is None:
        loss.backward()
        if grad_clip is not None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        return
    module.manual_backward(loss)
    runner = module.trainer.lightning_module  # whose on_before_optimizer_step Lightning calls
    runner._pending_grad_clip = grad_clip
    optimizer.step()
    if runner._pending_grad_clip is not None:  # the hook never ran: the clip would be lost
        raise RuntimeError(
            f"{type(runner).__name__}.on_before_optimizer_step must call clip_pending_gradients"
        )


def clip_pending_gradients(module: pl.LightningModule, optimizer: Any) -> None:
    """Body of ``on_before_optimizer_step``: the clip :func:`manual_step` asked for, if any.

    Lightning calls the hook after the precision plugin unscaled the gradients (before the
    optimiser's step, which a GradScaler skips on non-finite gradients), so the clip sees the
    true norm under every precision.
    """
    clip, module._pending_grad_clip = getattr(module, "_pending_grad_clip", None), None
    if clip is not None:
        module.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")


def check_finite(losses: dict[str, Tensor], where: str, hint: str, saved: str = "") -> None:
    """Stop the run, naming the loss and the step, when any loss is NaN or infinite.

    One fused check (a single host sync) per call; the training steps use :class:`FiniteGuard`,
    which defers this sync. ``saved`` says what checkpoint the stop leaves
    (:func:`checkpoint_note`).
    """
    ok = torch.stack([torch.isfinite(v.detach()).all() for v in losses.values()])  # own dtypes
    if bool(ok.all()):
        return
    bad = [name for name, fine in zip(losses, ok.tolist()) if not fine]
    raise FloatingPointError(
        f"non-finite loss at {where}: "
        + ", ".join(f"{n}={losses[n].item()}" for n in bad)
        + f". {hint}"
        + (f" {saved}" if saved else "")
    )


def checkpoint_note(trainer: Any) -> str:
    """What a stop leaves behind: the checkpoint saved before this step (diverged weights are
    never saved, see :class:`FiniteGuard`), or that there is none yet."""
    callback = getattr(trainer, "checkpoint_callback", None)
    path = Path(getattr(callback, "last_model_path", "") or "")
    if path.name and path.is_file():
        return f"Checkpoint {path}: {describe_previous(path)}, written before this step."
    return "No checkpoint has been written yet, so a rerun starts from the beginning."


def _stack(losses: dict[str, Tensor]) -> Tensor:
    """The scalar ``losses`` as one vector (detached, the names' order, promoted dtype: a
    float64 loss is not cast, so a large finite value never reads as infinite)."""
    return torch.stack(
        [v.detach() if v.dim() == 0 else v.detach().reshape(()) for v in losses.values()]
    )


class _Site:
    """One ``record`` call site (a fixed set of loss names): its pending steps and first bad one.

    Its tensors are allocated once and only ever updated in place, so a step replayed as a CUDA
    graph (mier_pl/fast/cuda_graph.py) keeps writing to the memory the next check reads.
    """

    def __init__(self, losses: dict[str, Tensor], hint: str) -> None:
        self.hint = hint
        self.where: list[str] = []  # host-side labels of the steps recorded since the last check
        device = next(iter(losses.values())).device
        # True until a recorded step is not all finite: the steps while it holds are counted
        # in ``good``, which is then the index into ``where`` of the first bad step.
        self.alive = torch.ones((), dtype=torch.bool, device=device)
        # On the device: a Python count would be a new constant in every step (a recompile
        # under torch.compile, a stale value in a graph).
        self.good = torch.zeros((), dtype=torch.long, device=device)
        # The first bad step's values ``[len(losses)]``, in the order of the names.
        self.values = _stack(losses).clone()


class FiniteGuard:
    """NaN/Inf checks of the training losses without a host sync in every step.

    ``record`` runs on the losses' device: it remembers the first step whose losses are not
    all finite, and their values, with in-place tensor ops only, so a GPU step never waits for
    the host and a CUDA graph can capture it. ``check`` syncs once and raises through
    :func:`check_finite`, naming the loss, its value, the step and the fix. The modules check
    on Lightning's logging steps (:func:`is_logging_step`: it syncs to log anyway) and on an
    epoch's last step, so a divergence stops the run at most ``log_every_n_steps`` steps late
    and always before the epoch's checkpoint, which therefore never holds diverged weights.

    ``record`` is :meth:`record_values` (the device side) plus :meth:`label` (the step's
    host-side name); a captured step records its values inside the graph and labels the step
    outside it, once per replay.
    """

    def __init__(self) -> None:
        self._sites: dict[tuple[str, ...], _Site] = {}

    def record(self, losses: dict[str, Tensor], where: str, hint: str) -> None:
        """Note this step's ``losses`` (scalars) under the label ``where``; no host sync."""
        self.record_values(losses, hint)
        self._sites[tuple(losses)].where.append(where)

    def record_values(self, losses: dict[str, Tensor], hint: str) -> None:
        """The device side of :meth:`record`: in-place tensor ops only (CUDA-graph safe).

        Each call must be matched by one :meth:`label` (or use :meth:`record`), so the first
        bad step's index names the right step."""
        site = self._sites.get(tuple(losses))
        if site is None:
            site = self._sites[tuple(losses)] = _Site(losses, hint)
        values = _stack(losses)  # one tensor: five ops per call, whatever the count
        # While no step was bad, keep this step's values: the first bad one's then stay.
        site.values.copy_(torch.where(site.alive, values, site.values))
        site.alive.logical_and_(torch.isfinite(values).all())
        site.good.add_(site.alive)

    def label(self, where: str) -> None:
        """Name the step every site's last :meth:`record_values` belonged to (host side)."""
        for site in self._sites.values():
            site.where.append(where)

    def check(self, trainer: Any = None) -> None:
        """Raise for the first non-finite step recorded since the last check (one sync),
        saying which checkpoint of ``trainer`` is left."""
        for names, site in self._sites.items():
            if not bool(site.alive):
                saved = checkpoint_note(trainer) if trainer is not None else ""
                first = site.where[int(site.good)]
                check_finite(dict(zip(names, site.values)), first, site.hint, saved)
            site.where.clear()
            site.alive.fill_(True)
            site.good.zero_()

    def check_if_due(self, module: pl.LightningModule, batch_idx: int) -> None:
        """``check`` on ``module``'s logging steps (:func:`is_logging_step`; every step when
        ``log_every_n_steps`` is 0) and on an epoch's last step."""
        trainer = module.trainer
        due = is_logging_step(module) if trainer.log_every_n_steps > 0 else True
        if due or batch_idx >= trainer.num_training_batches - 1:
            self.check(trainer)


def is_logging_step(module: pl.LightningModule) -> bool:
    """Whether Lightning sends this training step's metrics to the loggers.

    It does on every ``log_every_n_steps``-th batch counted across epochs (batches 49, 99, …
    for 50), and converts the logged tensors to Python numbers then: a host sync it makes
    anyway. Deferred checks and costly diagnostics belong to these steps; on the others a
    training step never waits for the device (tests/modules/test_host_syncs.py).
    """
    trainer = module.trainer
    every = trainer.log_every_n_steps
    return every > 0 and (trainer.fit_loop.total_batch_idx + 1) % every == 0


def log_step_metrics(module: pl.LightningModule, metrics: dict[str, Tensor]) -> None:
    """A training step's scalars to the loggers, on Lightning's logging steps only.

    What ``module.log_dict(metrics)`` of a training step (``on_step``, no ``on_epoch``)
    amounts to, the same rows at the same step with the same ``epoch`` column and in
    ``trainer.logged_metrics``, without ``self.log``'s per-step cost
    (:mod:`mier_pl.fast.step_logging`). Not for the progress bar or for values to reduce over
    an epoch or across ranks (``sync_dist``): those go through ``self.log``. Like it, only
    rank 0's loggers write.
    """
    if is_logging_step(module):
        log_now(module.trainer, metrics)


def spread_indices(total: int, count: int | None) -> list[int]:
    """``count`` evenly spaced indices of ``range(total)`` (all of them for ``None``)."""
    if count is None or count >= total:
        return list(range(total))
    if count <= 0:
        return []
    return sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)})
