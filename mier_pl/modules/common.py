"""Small pieces shared by the LightningModules: config dataclasses and loss guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor


@dataclass
class CollectConfig:
    """Data collection of Algorithm 1 (spec §4).

    Attributes:
        initial_exploration_repeats: P-step rollouts per train task before training (5).
        tasks_per_epoch: train tasks drawn (with replacement) for each epoch's collection (5).
        prior_steps: P, steps per task with the prior context φ₀, into both buffers (400).
        posterior_steps: U, steps per task with the adapted context φ_T, full buffer only (600).
    """

    initial_exploration_repeats: int = 5
    tasks_per_epoch: int = 5
    prior_steps: int = 400
    posterior_steps: int = 600


@dataclass
class EvalConfig:
    """Evaluation during meta-training (spec §4.2c).

    Attributes:
        interval: evaluate every this many epochs (0 disables evaluation).
        train_tasks: how many train tasks to evaluate (evenly spaced indices; 0 for none).
        test_tasks: how many test tasks to evaluate (None: all of them).
    """

    interval: int = 10
    train_tasks: int = 10
    test_tasks: int | None = None


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


def check_finite(losses: dict[str, Tensor], where: str, hint: str) -> None:
    """Stop the run, naming the loss and the step, when any loss is NaN or infinite.

    One fused check (a single host sync) per call.
    """
    ok = torch.stack([torch.isfinite(v.detach()).all() for v in losses.values()])  # own dtypes
    if bool(ok.all()):
        return
    bad = [name for name, fine in zip(losses, ok.tolist()) if not fine]
    raise FloatingPointError(
        f"non-finite loss at {where}: "
        + ", ".join(f"{n}={losses[n].item()}" for n in bad)
        + f". {hint} The last checkpoint (last.ckpt) was written before this step and is intact."
    )


def spread_indices(total: int, count: int | None) -> list[int]:
    """``count`` evenly spaced indices of ``range(total)`` (all of them for ``None``)."""
    if count is None or count >= total:
        return list(range(total))
    if count <= 0:
        return []
    return sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)})
