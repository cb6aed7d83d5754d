"""Test-time model identification (docs/algorithm.md §6 steps 1-3), as plain functions.

N context-only steps through the very inner loop meta-training uses
(:func:`~mier_pl.functional.inner_loop.adapt_context`, with the test-time learning-rate
schedule), then M full-model Adam steps with φ_T̂ frozen, watched on a held-out split. A model
whose validation loss diverges is put back as it was after the context steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch
from mier_pl.functional.inner_loop import adapt_context
from mier_pl.nets.model import ContextModel


def context_lrs(
    steps: int, lr: float = 0.01, late_lr: float = 0.001, fast_steps: int = 2
) -> list[float]:
    """Spec §6 step 2: ``lr`` for the first ``fast_steps`` steps, then ``late_lr``."""
    return [lr if k < fast_steps else late_lr for k in range(steps)]


def split_validation(
    batch: TransitionBatch, val_fraction: float, generator: torch.Generator | None = None
) -> tuple[TransitionBatch, TransitionBatch]:
    """Shuffle ``batch`` ``[A]`` and split it into (adapt ``[A − m]``, validation ``[m]``),
    ``m = round(A · val_fraction)``."""
    n = batch.rew.shape[0]
    m = round(n * val_fraction)
    if not 0 < m < n:
        raise ValueError(
            f"a validation share of {val_fraction} of {n} transitions leaves an empty split"
        )
    perm = torch.randperm(n, generator=generator).to(batch.rew.device)
    return batch[perm[m:]], batch[perm[:m]]


def model_parameters(model: ContextModel) -> list[torch.nn.Parameter]:
    """What the M full-model steps train: everything, or the reward model alone in
    separate-models mode (docs/algorithm.md §2: test-time adaptation touches only the reward model)."""
    return list((model.reward_net if model.separate else model).parameters())


@dataclass
class AdaptationReport:
    """What test-time identification did for one task.

    Attributes:
        context: φ_T̂ ``[1, context_dim]`` (detached).
        val_loss_prior: validation loss at φ₀ before anything.
        val_loss_context: validation loss after the N context steps (the "pre-adaptation"
            value the M model steps are judged against).
        val_losses: validation loss after each model step (may stop early at a NaN).
        diverged: the model steps made the validation loss NaN or worse than
            ``val_loss_context``; the model was restored to its state after the context steps.
        reason: why it diverged ("" otherwise).
    """

    context: Tensor
    val_loss_prior: float
    val_loss_context: float
    val_losses: list[float] = field(default_factory=list)
    diverged: bool = False
    reason: str = ""

    @property
    def val_loss(self) -> float:
        """The validation loss of the model that is kept."""
        return (
            self.val_losses[-1] if self.val_losses and not self.diverged else self.val_loss_context
        )

    def as_plain(self) -> dict:
        """Plain types (for checkpoints and results files)."""
        out = asdict(self)
        out["context"] = self.context.detach().cpu().reshape(-1).tolist()
        return out


def validation_loss(model: ContextModel, batch: TransitionBatch, context: Tensor) -> float:
    """The adapted loss (docs/algorithm.md §2; reward only in separate mode) of ``batch`` ``[n]``."""
    with torch.no_grad():
        return float(model.adapt_loss(batch[None], context)[0])


def identify(
    model: ContextModel,
    prior: Tensor,
    real: TransitionBatch,
    context_steps: int,
    model_steps: int,
    lrs: list[float] | None = None,
    model_lr: float = 1e-3,
    val_fraction: float = 0.2,
    max_grad_norm: float = 10.0,
    generator: torch.Generator | None = None,
    rollback: bool = True,
) -> AdaptationReport:
    """Spec §6 steps 1-3 on one task's real transitions ``real`` ``[A]``; mutates ``model``.

    Args:
        model: the meta-trained model; its weights change only through the M model steps.
        prior: φ₀ ``[1, context_dim]``.
        real: the A transitions collected with φ₀.
        context_steps: N.
        model_steps: M (0 leaves the weights alone).
        lrs: per-step context learning rates (default :func:`context_lrs`).
        model_lr: Adam learning rate of the model steps (a fresh Adam every call).
        val_fraction: held-out share of ``real``.
        max_grad_norm: clip of each context gradient (10).
        generator: for the shuffle.
        rollback: restore the context-only model when the M steps end with a validation loss
            above it (ours; the release keeps the model). A non-finite loss always restores.
    """
    support, val = split_validation(real, val_fraction, generator)
    prior = prior.detach().reshape(1, -1)
    lrs = lrs if lrs is not None else context_lrs(context_steps)
    if len(lrs) != context_steps:
        raise ValueError(f"{len(lrs)} context learning rates for {context_steps} context steps")
    with torch.enable_grad():
        context = adapt_context(
            lambda c: model.adapt_loss(support[None], c),
            prior,
            lrs,
            max_grad_norm,
            create_graph=False,
        ).detach()
    report = AdaptationReport(
        context, validation_loss(model, val, prior), validation_loss(model, val, context)
    )
    if model_steps == 0:
        return report

    params = model_parameters(model)
    saved = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=model_lr)  # fresh state (docs/algorithm.md §6 step 3)
    with torch.enable_grad():
        for _ in range(model_steps):
            loss = model.adapt_loss(support[None], context)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            report.val_losses.append(validation_loss(model, val, context))
            if not math.isfinite(report.val_losses[-1]):
                break
    final = report.val_losses[-1]
    if not math.isfinite(final):
        report.diverged, report.reason = (
            True,
            f"validation loss became {final} at model step {len(report.val_losses)}",
        )
    elif rollback and final > report.val_loss_context:
        report.diverged = True
        report.reason = f"validation loss rose from {report.val_loss_context:.4g} to {final:.4g} over {model_steps} model steps"
    if report.diverged:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
    for p in params:
        p.grad = None
    return report
