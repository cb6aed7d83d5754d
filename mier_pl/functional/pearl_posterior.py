"""PEARL's context inference (Rakelly et al. 2019) as pure functions.

Each transition of a task's context is encoded to one Gaussian factor Ψ(z | c_n) =
N(μ_n, σ²_n); the posterior q(z | c) ∝ Π_n Ψ(z | c_n) is their product (permutation invariant),
and the information bottleneck is KL(q(z | c) ‖ N(0, I)). The reference implementation is
katerakelly/oyster, ``rlkit/torch/sac/agent.py`` (``_product_of_gaussians``,
``PEARLAgent.infer_posterior``, ``compute_kl_div``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mier_pl.data.batch import TransitionBatch

MIN_VARIANCE = 1e-7  # oyster's clamp of each factor's σ² before the product


def context_features(batch: TransitionBatch, use_next_obs: bool) -> Tensor:
    """The encoder's input per transition ``[*L, obs + act + 1 (+ obs)]``: (s, a, r) or, with
    ``use_next_obs`` (oyster's ``use_next_obs_in_context``), (s, a, r, s')."""
    parts = [batch.obs, batch.act, batch.rew.unsqueeze(-1)]
    if use_next_obs:
        parts.append(batch.next_obs)
    return torch.cat(parts, dim=-1)


def gaussian_factors(params: Tensor) -> tuple[Tensor, Tensor]:
    """Split the encoder's output ``[..., 2·latent]`` into means and variances (softplus)."""
    mean, raw = params.chunk(2, dim=-1)
    return mean, F.softplus(raw)


def product_of_gaussians(mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
    """The product of ``N`` diagonal Gaussian factors ``[tasks, N, latent]`` along dim −2:
    σ² = 1 / Σ_n 1/σ²_n and μ = σ² Σ_n μ_n/σ²_n, each ``[tasks, latent]``."""
    var = var.clamp(min=MIN_VARIANCE)
    precision = var.reciprocal()
    post_var = precision.sum(dim=-2).reciprocal()
    post_mean = post_var * (mean * precision).sum(dim=-2)
    return post_mean, post_var


def kl_to_standard_normal(mean: Tensor, var: Tensor) -> Tensor:
    """Σ KL(N(μ, σ²) ‖ N(0, I)) over every task and latent dim: ½ Σ (σ² + μ² − 1 − log σ²)
    (oyster's ``compute_kl_div`` sums over tasks too)."""
    return 0.5 * (var + mean.square() - 1.0 - var.log()).sum()


def sample_latent(mean: Tensor, var: Tensor) -> Tensor:
    """z = μ + σ·ε, reparameterised (gradients reach μ and σ²)."""
    return mean + var.sqrt() * torch.randn_like(mean)
