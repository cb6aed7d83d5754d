"""Identification diagnostics as pure functions: a linear probe of the context, and the
adapted model's prediction errors (docs/learning.md, "Identification diagnostics").

The probe asks whether the adapted context φ_T (PEARL: z's posterior mean) carries the task:
ridge regression from contexts ``[tasks, context_dim]`` to the family's task encodings
``[tasks, encoding_dim]`` (``MetaEnv.encode_task``), scored by R² on tasks it was not fitted
on. An R² near 1 says the task can be read off φ_T (so a bad return is the policy's doing);
near 0 or below, φ_T does not tell the tasks apart.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch
from mier_pl.nets.model import ContextModel

RIDGE = 1e-3
"""The probe's ridge, relative to unit feature variance (features are standardised on the fit
set): 0.1 % shrinkage, enough to keep a collapsed context dimension from blowing up the solve
while leaving the fit an ordinary least-squares one in effect."""


class LinearMap(NamedTuple):
    """``y ≈ x @ weight + bias``: ``weight`` ``[in_dim, out_dim]``, ``bias`` ``[out_dim]``."""

    weight: Tensor
    bias: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        return x.detach().to(self.weight) @ self.weight + self.bias


def ridge_fit(x: Tensor, y: Tensor, ridge: float = RIDGE) -> LinearMap:
    """Ridge regression with an unpenalised intercept, fitted in float64.

    The features are centred and scaled to unit (population) variance first, so ``ridge`` is
    a fraction of a unit-variance feature's sum of squares and the fit does not depend on φ's
    scale (the release's gradient clip keeps φ_T inside a ball of radius ~0.2). A feature that
    does not vary (relative spread under 1e-9) is left unscaled: it is zero after centring.
    With ``ridge`` 0 this is ordinary least squares.

    Args:
        x: features ``[n, in_dim]`` (contexts).
        y: targets ``[n, out_dim]`` (task encodings).
        ridge: λ ≥ 0; the solve is (ZᵀZ + λ·n·I) W = Zᵀ(y − ȳ) on the standardised Z.

    Returns:
        The map in the original feature units.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"ridge_fit needs x [n, in_dim] and y [n, out_dim]; got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if ridge < 0:
        raise ValueError(f"the ridge must be non-negative, got {ridge}")
    x, y = x.detach().double().cpu(), y.detach().double().cpu()  # small: [tasks, dim]
    n = x.shape[0]
    x_mean, y_mean = x.mean(0), y.mean(0)
    std = x.std(0, unbiased=False)
    varies = std > 1e-9 * x.abs().amax(0).clamp_min(1e-300)
    scale = torch.where(varies, std, torch.ones_like(std))
    z = (x - x_mean) / scale
    gram = z.T @ z + ridge * n * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    w_std = torch.linalg.lstsq(gram, z.T @ (y - y_mean)).solution
    weight = w_std / scale.unsqueeze(1)
    return LinearMap(weight, y_mean - x_mean @ weight)


def r_squared(prediction: Tensor, target: Tensor) -> float:
    """R² pooled over the target's dims: 1 − Σ(ŷ − y)² / Σ(y − ȳ)², each dim about its own
    mean over the rows, ``[n, out_dim]`` both.

    Pooled rather than a mean of per-dim R²s: a dim that hardly varies over the scored tasks
    (one coordinate of a Meta-World goal) then weighs little instead of dominating through a
    tiny denominator. 1 is a perfect read-out, 0 is no better than the scored tasks' mean
    encoding, below 0 is worse. NaN when the targets do not vary at all.
    """
    target = target.detach().double().cpu()
    sse = (prediction.detach().double().cpu() - target).square().sum()
    sst = (target - target.mean(0)).square().sum()
    return float(1.0 - sse / sst) if float(sst) > 0 else float("nan")


def kfold_indices(n: int, folds: int) -> list[Tensor]:
    """``folds`` disjoint index sets covering ``range(n)``, interleaved: fold j holds
    j, j + folds, j + 2·folds, … Interleaving needs no generator and, where a family lists
    its tasks in an order (Meta-World's ML10 groups them by environment), keeps each fold a
    spread of the list rather than one end of it."""
    if not 2 <= folds <= n:
        raise ValueError(f"k-fold needs 2 ≤ folds ≤ n; got {folds} folds of {n} rows")
    return [torch.arange(j, n, folds) for j in range(folds)]


def cross_validated_r2(x: Tensor, y: Tensor, folds: int, ridge: float = RIDGE) -> float:
    """k-fold R² of the probe: each fold predicted by a :func:`ridge_fit` on the others, then
    :func:`r_squared` of all those out-of-fold predictions together (one score over ``n`` rows,
    steadier than a mean of ``folds`` small-fold scores)."""
    x, y = x.detach().double().cpu(), y.detach().double().cpu()
    prediction = torch.empty_like(y)
    for held in kfold_indices(x.shape[0], folds):
        keep = torch.ones(x.shape[0], dtype=torch.bool)
        keep[held] = False
        prediction[held] = ridge_fit(x[keep], y[keep], ridge)(x[held])
    return r_squared(prediction, y)


class ProbeScores(NamedTuple):
    """R² of the linear probe: ``train`` k-fold over the fit tasks, ``test`` on other tasks
    with the probe fitted on all the fit tasks (NaN where not computable)."""

    train: float
    test: float


def probe_scores(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor | None,
    test_y: Tensor | None,
    folds: int = 5,
    ridge: float = RIDGE,
) -> ProbeScores:
    """The probe from contexts to encodings, fitted on train tasks, scored held-out.

    ``folds`` is capped at the number of train tasks; with fewer than 3 train tasks (a fit on
    one task cannot be scored) the train score is NaN, and without test tasks the test one.
    """
    n = train_x.shape[0]
    cv = cross_validated_r2(train_x, train_y, min(folds, n), ridge) if n >= 3 else float("nan")
    if test_x is None or test_y is None or test_x.shape[0] == 0 or n < 2:
        return ProbeScores(cv, float("nan"))
    return ProbeScores(cv, r_squared(ridge_fit(train_x, train_y, ridge)(test_x), test_y))


class ContextStats(NamedTuple):
    """Sizes of contexts ``[tasks, dim]``: mean and largest row L2 norm, and the spread (each
    dim's standard deviation over tasks, averaged over dims; 0 for one task)."""

    norm_mean: float
    norm_max: float
    spread: float


def context_stats(context: Tensor) -> ContextStats:
    context = context.detach().double().cpu()
    norms = torch.linalg.vector_norm(context, dim=-1)
    spread = float(context.std(0).mean()) if context.shape[0] > 1 else 0.0
    return ContextStats(float(norms.mean()), float(norms.max()), spread)


class ModelErrors(NamedTuple):
    """Per-task mean squared errors ``[tasks]`` of the model's mean prediction: the reward,
    and the next state (averaged over the state's dims)."""

    reward: Tensor
    state: Tensor


class Identification(NamedTuple):
    """What a method identifies a task batch by (``MetaTrainingModule.identify_tasks``): the
    ``context`` ``[tasks, dim]`` its policy acts with (φ_T; PEARL: z's posterior mean), and,
    for a method with a model, its :class:`ModelErrors` on held-out steps at φ_T and at φ₀.

    ``noise`` ``[tasks, dim]``: for a method whose policy acts on a *sample* around ``context``
    (PEARL's z ~ N(μ, σ²)), the sample's standard deviation σ. A linear probe reads the task off
    μ at any scale, so a high R² says nothing of a policy that sees μ through noise far larger
    than the spread of μ across tasks; the two sizes side by side do."""

    context: Tensor
    errors: ModelErrors | None = None
    prior_errors: ModelErrors | None = None
    noise: Tensor | None = None


def prediction_errors(model: ContextModel, batch: TransitionBatch, context: Tensor) -> ModelErrors:
    """The model's errors on ``batch`` ``[tasks, N]`` under ``context`` ``[tasks, dim]``.

    MSE of the Gaussian means (not samples): (μ_r − r)² and (s + μ_Δ − s')², so the numbers
    are in the env's own units and need no likelihood to read.
    """
    with torch.no_grad():
        reward, next_obs = model.predict_mean(batch.obs, batch.act, context)
        return ModelErrors(
            (reward - batch.rew).square().mean(-1),
            (next_obs - batch.next_obs).square().mean((-2, -1)),
        )
