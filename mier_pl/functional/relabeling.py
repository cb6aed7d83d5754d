"""Experience relabeling (docs/algorithm.md §6 step 5) as pure batched functions.

Both take a flat batch of train-task transitions (100 000 by default) and the adapted context
φ_T̂ and return synthetic transitions of the test task in one pass through the networks: no
Python loop over samples.

The model may be any object with :class:`~mier_pl.nets.model.ContextModel`'s sampling
interface: ``predict(obs, act, context, generator) → (reward, next_obs)`` and
``sample_reward(obs, act, context, generator) → reward``, over ``[tasks, N, ·]`` inputs and a
``[tasks, context_dim]`` context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch

ActFn = Callable[[Tensor, Tensor], Tensor]
"""``act(obs [B, obs_dim], context [B, context_dim]) → actions [B, act_dim]``, sampled from π."""
TerminationFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""The family's batched rule ``(obs, act, next_obs) → terminated`` (bool ``[B]``), docs/algorithm.md §7."""


class SamplingModel(Protocol):
    def predict(
        self, obs: Tensor, act: Tensor, context: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]: ...

    def sample_reward(
        self, obs: Tensor, act: Tensor, context: Tensor, generator: torch.Generator | None = None
    ) -> Tensor: ...


def _one_task(context: Tensor) -> Tensor:
    if context.numel() != context.shape[-1]:
        raise ValueError(f"relabeling takes one task's context, got shape {tuple(context.shape)}")
    return context.reshape(1, context.shape[-1])


@torch.no_grad()
def rollout_relabel(
    model: SamplingModel,
    act: ActFn,
    termination_fn: TerminationFn,
    obs: Tensor,
    context: Tensor,
    generator: torch.Generator | None = None,
) -> TransitionBatch:
    """Rollout relabeling (dynamics families): keep s; a ~ π(·|s, φ_T̂); (s', r) sampled from
    the adapted model; done from the family's rule on the predicted s'.

    Args:
        model: the adapted model.
        act: the policy's sampler.
        termination_fn: the family's batched termination rule.
        obs: train-task states ``[B, obs_dim]``.
        context: φ_T̂ ``[1, context_dim]`` (or ``[context_dim]``).
        generator: for the model's samples (the policy uses its own randomness).

    Returns:
        ``[B]`` synthetic transitions; ``truncated`` is all zeros (no time limit inside one
        model step).
    """
    ctx = _one_task(context)
    action = act(obs, ctx.expand(obs.shape[0], -1))
    reward, next_obs = model.predict(obs[None], action[None], ctx, generator)
    reward, next_obs = reward[0], next_obs[0]
    terminated = termination_fn(obs, action, next_obs).to(obs.dtype)
    return TransitionBatch(obs, action, reward, next_obs, terminated, torch.zeros_like(reward))


@torch.no_grad()
def reward_relabel(
    model: SamplingModel,
    batch: TransitionBatch,
    context: Tensor,
    generator: torch.Generator | None = None,
) -> TransitionBatch:
    """Reward relabeling (reward-only families, "off-policy relabeling"): keep
    (s, a, s', done) of ``batch`` ``[B]`` and replace r by a sample of the adapted reward model."""
    reward = model.sample_reward(batch.obs[None], batch.act[None], _one_task(context), generator)[0]
    return replace(batch, rew=reward)
