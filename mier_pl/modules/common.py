"""Small pieces shared by the LightningModules: config dataclasses and loss guards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from mier_pl.data.checkpoint_io import describe_previous
from mier_pl.ranges import NonNegativeInt, PositiveInt, check_ranges


@dataclass
class CollectConfig:
    """Data collection of Algorithm 1 (spec §4).

    Attributes:
        initial_exploration_repeats: P-step rollouts per train task before training (5).
        tasks_per_epoch: train tasks drawn (with replacement) for each epoch's collection (5).
        prior_steps: P, steps per task with the prior context φ₀, into both buffers (400).
        posterior_steps: U, steps per task with the adapted context φ_T, full buffer only (600).
    """

    initial_exploration_repeats: NonNegativeInt = 5
    tasks_per_epoch: PositiveInt = 5
    prior_steps: PositiveInt = 400
    posterior_steps: NonNegativeInt = 600

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.collect")


@dataclass
class EvalConfig:
    """Evaluation during meta-training (spec §4.2c).

    Attributes:
        interval: evaluate every this many epochs (0 disables evaluation).
        train_tasks: how many train tasks to evaluate (evenly spaced indices; 0 for none).
        test_tasks: how many test tasks to evaluate (None: all of them).
    """

    interval: NonNegativeInt = 10
    train_tasks: NonNegativeInt = 10
    test_tasks: NonNegativeInt | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.eval")


def manual_step(
    owner: pl.LightningModule,
    optimizer: Any,
    loss: Tensor,
    grad_clip: float | None = None,
) -> None:
    """One optimiser step through ``owner``'s Lightning hooks (so precision and DDP apply):
    zero the gradients, ``manual_backward``, optionally clip the global norm, step."""
    optimizer.zero_grad(set_to_none=True)
    owner.manual_backward(loss)
    if grad_clip is not None:
        owner.clip_gradients(optimizer, gradient_clip_val=grad_clip, gradient_clip_algorithm="norm")
    optimizer.step()


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


class _Site:
    """One ``record`` call site (a fixed set of loss names): its pending steps and first bad one."""

    def __init__(self, losses: dict[str, Tensor], hint: str) -> None:
        self.hint = hint
        self.where: list[str] = []  # host-side labels of the steps recorded since the last check
        device = next(iter(losses.values())).device
        # Index into ``where`` of the first non-finite step, −1 while there is none.
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.values = [v.detach().clone() for v in losses.values()]


class FiniteGuard:
    """NaN/Inf checks of the training losses without a host sync in every step.

    ``record`` runs on the losses' device: it remembers the first step whose losses are not
    all finite, and their values, with tensor ops only, so a GPU step never waits for the
    host. ``check`` syncs once and raises through :func:`check_finite`, naming the loss, its
    value, the step and the fix. The modules check on every ``log_every_n_steps``-th step
    (when Lightning syncs to log anyway) and on an epoch's last step, so a divergence stops
    the run at most that many steps late and always before the epoch's checkpoint, which
    therefore never holds diverged weights.
    """

    def __init__(self) -> None:
        self._sites: dict[tuple[str, ...], _Site] = {}

    def record(self, losses: dict[str, Tensor], where: str, hint: str) -> None:
        """Note this step's ``losses`` (scalars) under the label ``where``; no host sync."""
        site = self._sites.get(tuple(losses))
        if site is None:
            site = self._sites[tuple(losses)] = _Site(losses, hint)
        finite = torch.stack([torch.isfinite(v.detach()).all() for v in losses.values()]).all()
        first = (site.first_bad < 0) & ~finite
        site.first_bad = torch.where(first, len(site.where), site.first_bad)  # a scalar: no copy
        site.values = [
            torch.where(first, v.detach(), old) for v, old in zip(losses.values(), site.values)
        ]
        site.where.append(where)

    def check(self, trainer: Any = None) -> None:
        """Raise for the first non-finite step recorded since the last check (one sync),
        saying which checkpoint of ``trainer`` is left."""
        for names, site in self._sites.items():
            first = int(site.first_bad)
            if first >= 0:
                saved = checkpoint_note(trainer) if trainer is not None else ""
                check_finite(dict(zip(names, site.values)), site.where[first], site.hint, saved)
            site.where.clear()

    def check_if_due(self, module: pl.LightningModule, batch_idx: int) -> None:
        """``check`` on ``module``'s every ``log_every_n_steps``-th step and an epoch's last."""
        trainer = module.trainer
        every = max(trainer.log_every_n_steps, 1)  # 0 (no step logging) still checks
        if batch_idx % every == 0 or batch_idx >= trainer.num_training_batches - 1:
            self.check(trainer)


def spread_indices(total: int, count: int | None) -> list[int]:
    """``count`` evenly spaced indices of ``range(total)`` (all of them for ``None``)."""
    if count is None or count >= total:
        return list(range(total))
    if count <= 0:
        return []
    return sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)})
