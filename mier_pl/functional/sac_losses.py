"""SAC losses over context-conditioned networks (docs/algorithm.md §5), as pure functions.

Each takes modules and tensors and returns ``(loss, metrics)``; stepping optimisers is the
LightningModule's job. The context φ is concatenated to the observation for the actor and
the critics, for both ``s`` and ``s'`` (a transition keeps its task's context).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mier_pl.data.batch import TransitionBatch
from mier_pl.nets.sac_nets import TanhGaussianActor, TwinCritic


def with_context(obs: Tensor, context: Tensor) -> Tensor:
    """``[B, obs_dim]`` and ``[B, context_dim]`` → the SAC input ``[B, obs_dim + context_dim]``."""
    return torch.cat([obs, context], dim=-1)


def critic_loss(
    critic: TwinCritic,
    target_critic: TwinCritic,
    actor: TanhGaussianActor,
    log_alpha: Tensor,
    batch: TransitionBatch,
    context: Tensor,
    gamma: float,
    reward_scale: float,
) -> tuple[Tensor, dict[str, Tensor]]:
    """0.5·MSE per critic against r·scale + γ(1 − terminated)(min Q_targ(s', a') − α log π(a'|s')).

    Only ``terminated`` stops the bootstrap: a time-limit cut (``truncated``) bootstraps (docs/algorithm.md §4).
    Shapes: ``batch`` ``[B]``, ``context`` ``[B, context_dim]``.
    """
    state = with_context(batch.obs, context)
    next_state = with_context(batch.next_obs, context)
    with torch.no_grad():
        next_action, next_log_prob = actor(next_state)
        next_q = target_critic(torch.cat([next_state, next_action], -1)).min(dim=0).values
        soft_next = next_q - log_alpha.exp() * next_log_prob
        target = batch.rew * reward_scale + gamma * (1.0 - batch.terminated) * soft_next
    q = critic(torch.cat([state, batch.act], -1))
    loss = 0.5 * ((q - target) ** 2).mean(dim=1).sum()
    return loss, {
        "critic_loss": loss.detach(),
        "q_mean": q.detach().mean(),
        "target_q": target.mean(),
    }


def actor_loss(
    critic: TwinCritic,
    actor: TanhGaussianActor,
    log_alpha: Tensor,
    batch: TransitionBatch,
    context: Tensor,
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """E[α log π(a|s) − min Q(s, a)] with a ~ π; returns ``(loss, log_prob, metrics)``.

    The critic is evaluated with detached weights, so this loss never writes critic gradients.
    """
    state = with_context(batch.obs, context)
    action, log_prob = actor(state)
    q = critic(torch.cat([state, action], -1), detach_params=True).min(dim=0).values
    loss = (log_alpha.detach().exp() * log_prob - q).mean()
    return (
        loss,
        log_prob.detach(),
        {"actor_loss": loss.detach(), "entropy": -log_prob.detach().mean()},
    )


def alpha_loss(log_alpha: Tensor, log_prob: Tensor, target_entropy: float) -> Tensor:
    """−log α·(log π + H̄) (release form), ``log_prob`` detached."""
    return -(log_alpha * (log_prob + target_entropy)).mean()


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """θ_targ ← (1 − τ)θ_targ + τθ, fused over all parameters."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)
