"""Data-path figures: lockstep collection against raw MuJoCo, relabeling against a bare
forward, and the replay memory of a full run."""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from benchmarks.common import random_batch, rates, row
from mier_pl.data.algorithm import collect_epoch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.modules import ContextSACModule, DynamicsConfig, MetaModelModule, SACConfig


def bench_collection(family: str, seconds: float, device: torch.device | str = "cpu") -> dict:
    """Lockstep collection of 5 tasks with the policy, replay and context on ``device`` vs
    :func:`bare_collection`: the env steps and the per-step hand-off collection cannot avoid."""
    collector = Collector(family, None, seed=0, device=device)
    replay = MultiTaskReplay(
        len(collector.train_tasks),
        collector.envs[0].observation_space.shape[0],
        collector.envs[0].action_space.shape[0],
        200_000,
        device,
    )
    sac = ContextSACModule(replay.obs_dim, replay.act_dim, 5, SACConfig(hidden=(256, 256)))
    sac = sac.to(device)
    prior = torch.zeros(1, 5, device=device)

    def epoch_slice() -> None:  # 5 tasks in lockstep: P = 400 with φ₀, no adaptation cost here
        collect_epoch(
            collector,
            replay,
            [0, 1, 2, 3, 4],
            sac.policy(),  # as the modules act: a snapshot taken per collection phase
            prior,
            lambda b: prior.expand(5, -1),
            400,
            0,
        )

    env = collector.envs[0]
    data = mujoco.MjData(env.model)

    def raw_steps() -> None:
        bare_collection(env, data, 100, 5, device)

    r_slice, r_raw = rates([epoch_slice, raw_steps], seconds, warmup=1, device=device)
    ours, raw = r_slice * 5 * 400, r_raw * 500
    return row(f"collection {family}", ours, raw, "env steps/s", ">= 0.5")


def bare_collection(env, data, steps: int, tasks: int, device: torch.device | str) -> None:
    """The limit of ``steps`` lockstep steps of ``tasks`` envs: raw ``mj_step`` (on ``data``,
    an ``MjData`` of ``env``'s model) for each, and per lockstep step the two copies collection
    makes (the observations host→device, the actions back, blocking), without the policy."""
    obs = np.zeros((tasks, env.observation_space.shape[0]), dtype=np.float32)
    for _ in range(steps):
        for _ in range(tasks):
            mujoco.mj_step(env.model, data, nstep=env.frame_skip)
        on_device = torch.as_tensor(obs).to(device, non_blocking=True)
        on_device.cpu().numpy()


def bench_relabel(seconds: float, device) -> dict:
    """100 000 synthetic transitions for ant-negated-joints (obs 27, act 8, ctx 5, joint model,
    policy 256²): rollout relabeling vs a bare batched forward of the same policy and model."""
    from mier_pl.envs.ant import AntNegatedJointsEnv
    from mier_pl.functional.relabeling import reward_relabel, rollout_relabel

    obs_dim, act_dim, ctx, n = 27, 8, 5, 100_000
    model = (
        MetaModelModule(obs_dim, act_dim, False, DynamicsConfig(context_dim=ctx)).to(device).model
    )
    sac = ContextSACModule(obs_dim, act_dim, ctx, SACConfig(hidden=(256, 256))).to(device)
    batch = random_batch(1, n, obs_dim, act_dim, device).flatten()
    context = torch.zeros(1, ctx, device=device)

    def ours() -> None:
        rollout_relabel(model, sac.act, AntNegatedJointsEnv.termination_fn, batch.obs, context)

    def ours_reward() -> None:
        reward_relabel(model, batch, context)

    @torch.inference_mode()
    def bare() -> None:
        c = context.expand(n, -1)
        a = sac.actor.act(torch.cat([batch.obs, c], -1))
        mean, logvar = model.net(torch.cat([batch.obs, a, c], -1))
        out = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        _ = batch.obs + out[:, 1:]

    r_ours, r_reward, r_bare = (
        r * n for r in rates([ours, ours_reward, bare], seconds, warmup=1, device=device)
    )
    figure = "relabeling, 100k transitions (rollout)"
    return row(figure, r_ours, r_bare, "transitions/s", ">= 0.8", reward_relabel_per_s=r_reward)


def bench_memory(device: torch.device | str = "cpu") -> dict:
    """Fill a replay on ``device`` the way conf/ant_neg.yaml does: 35 tasks, 5 × 400
    exploration each, then 600 epochs × 5 tasks drawn with replacement × (400 pre-adapt + 600)
    transitions. On CUDA the allocator's growth is reported too (``device_gib``)."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    before = torch.cuda.memory_allocated(device) if cuda else 0
    rng = np.random.default_rng(0)
    replay = MultiTaskReplay(35, 27, 8, 1_000_000, device)
    chunk = {n: random_batch(1, n, 27, 8, device) for n in (400, 600)}
    for task in range(35):
        for _ in range(5):
            replay.add([task], chunk[400], pre_adapt=True)
    for _ in range(600):
        for task in rng.integers(0, 35, 5):
            replay.add([int(task)], chunk[400], pre_adapt=True)
            replay.add([int(task)], chunk[600], pre_adapt=False)
    held = int(replay.size().sum())
    figure = "replay memory (ant_neg, full run)"
    gib = replay.nbytes() / 2**30
    extra = {"device_gib": (torch.cuda.memory_allocated(device) - before) / 2**30} if cuda else {}
    return row(figure, gib, 1.2, "GiB", "<= 1.2 GiB", transitions=held, **extra)
