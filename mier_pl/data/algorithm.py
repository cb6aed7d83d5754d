"""Algorithm 1's data steps as plain functions: exploration, an epoch's collection, evaluation.

They take a collector, a replay and callables for the policy and the context adaptation, so
MIER's module, the model-only module and the adapt command all run the very same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector, Recorder

Policy = Callable[[Tensor, Tensor, bool], Tensor]
"""``policy(obs [B, obs_dim], context [B, context_dim], deterministic) → actions [B, act_dim]``."""
Adapt = Callable[[TransitionBatch], Tensor]
"""``adapt(batch [tasks, N]) → adapted context [tasks, context_dim]`` (detached)."""


@dataclass
class CollectStats:
    env_steps: int
    episode_returns: list[float]


def _acting(policy: Policy, context: Tensor, deterministic: bool = False):
    return lambda obs: policy(obs, context, deterministic)


def explore(
    collector: Collector,
    replay: MultiTaskReplay,
    policy: Policy,
    prior: Tensor,
    repeats: int,
    steps: int,
    num_envs: int,
) -> CollectStats:
    """Initial exploration (docs/algorithm.md §4.1): ``repeats × steps`` with φ₀ in every train task, into
    both buffers; tasks are stepped ``num_envs`` at a time in lockstep."""
    tasks = collector.train_tasks
    returns: list[float] = []
    env_steps = 0
    for _ in range(repeats):
        for start in range(0, len(tasks), num_envs):
            ids = list(range(start, min(start + num_envs, len(tasks))))
            ctx = prior.expand(len(ids), -1)
            result = collector.rollout([tasks[i] for i in ids], steps, _acting(policy, ctx))
            replay.add(ids, result.batch, pre_adapt=True)
            returns += result.episode_returns
            env_steps += len(ids) * steps
    return CollectStats(env_steps, returns)


def collect_epoch(
    collector: Collector,
    replay: MultiTaskReplay,
    task_ids: Sequence[int],
    policy: Policy,
    prior: Tensor,
    adapt: Adapt,
    prior_steps: int,
    posterior_steps: int,
    prior_policy: Policy | None = None,
) -> CollectStats:
    """Spec §4.2a: for each task, P steps with φ₀ (both buffers), adapt φ on exactly those
    steps, then U steps with φ_T (full buffer only). All tasks run in lockstep.

    ``prior_policy`` acts in the P steps (default: ``policy``, with φ₀)."""
    tasks = [collector.train_tasks[i] for i in task_ids]
    ctx = prior.expand(len(tasks), -1)
    pre = collector.rollout(tasks, prior_steps, _acting(prior_policy or policy, ctx))
    replay.add(task_ids, pre.batch, pre_adapt=True)
    returns = list(pre.episode_returns)
    if posterior_steps > 0:
        adapted = adapt(pre.batch)
        post = collector.rollout(tasks, posterior_steps, _acting(policy, adapted))
        replay.add(task_ids, post.batch, pre_adapt=False)
        returns += post.episode_returns
    return CollectStats(len(tasks) * (prior_steps + posterior_steps), returns)


def evaluate(
    collector: Collector,
    tasks: Sequence[Any],
    policy: Policy,
    prior: Tensor,
    adapt: Adapt,
    adapt_steps: int,
    prior_policy: Policy | None = None,
    record: Mapping[int, Recorder] | None = None,
) -> tuple[np.ndarray, Tensor]:
    """Spec §4.2c: A steps with φ₀ (not stored), adapt φ, one deterministic episode.

    Returns the undiscounted returns ``[tasks]`` and the adapted contexts. On test tasks this
    is MIER-wR (no relabeling). ``prior_policy`` acts in the A steps (default: ``policy``).
    ``record`` (task slot → recorder) films those slots' deterministic episodes.
    """
    found = identify_tasks(collector, tasks, prior_policy or policy, prior, adapt, adapt_steps)
    returns = collector.run_episodes(
        tasks, _acting(policy, found.context, deterministic=True), record
    )
    return returns, found.context


@dataclass
class Identified:
    """What :func:`identify_tasks` found: ``context`` ``[tasks, context_dim]`` (φ_T), the
    ``support`` ``[tasks, A]`` it was adapted on, and ``held_out`` ``[tasks, V]``, the V steps
    that followed in the same rollout (``None`` for V = 0)."""

    context: Tensor
    support: TransitionBatch
    held_out: TransitionBatch | None


def identify_tasks(
    collector: Collector,
    tasks: Sequence[Any],
    prior_policy: Policy,
    prior: Tensor,
    adapt: Adapt,
    adapt_steps: int,
    held_out_steps: int = 0,
) -> Identified:
    """Spec §4.2c's identification: A steps with φ₀ (not stored, not counted), then φ adapted
    on them. With ``held_out_steps`` V, the rollout runs V steps further and those come back
    apart, untouched by the adaptation (the identification diagnostics score the model on
    them); the A steps are the same as without."""
    ctx = prior.expand(len(tasks), -1)
    steps = adapt_steps + held_out_steps
    data = collector.rollout(tasks, steps, _acting(prior_policy, ctx), count=False)
    support = data.batch[:, :adapt_steps] if held_out_steps else data.batch
    held_out = data.batch[:, adapt_steps:] if held_out_steps else None
    return Identified(adapt(support), support, held_out)


def random_policy(act_dim: int) -> Policy:
    """Uniform actions in [−1, 1] from torch's global generator (seeded by the run seed)."""

    def act(obs: Tensor, context: Tensor, deterministic: bool) -> Tensor:
        del context, deterministic
        return torch.rand(obs.shape[0], act_dim, device=obs.device) * 2 - 1

    return act
