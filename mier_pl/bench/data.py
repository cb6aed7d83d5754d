"""Data-path figures: lockstep collection against raw MuJoCo, relabeling against a bare
forward, and the replay memory of a full run."""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from mier_pl.bench.common import random_batch, rates, row
from mier_pl.data.algorithm import collect_epoch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.modules import ContextSACModule, DynamicsConfig, MetaModelModule, SACConfig


def bench_collection(family: str, seconds: float) -> dict:
    collector = Collector(family, None, seed=0)
    replay = MultiTaskReplay(
        len(collector.train_tasks),
        collector.envs[0].observation_space.shape[0],
        collector.envs[0].action_space.shape[0],
        200_000,
    )
    sac = ContextSACModule(replay.obs_dim, replay.act_dim, 5, SACConfig(hidden=(256, 256)))
    prior = torch.zeros(1, 5)

    def epoch_slice() -> None:  # 5 tasks in lockstep: P = 400 with φ₀, no adaptation cost here
        collect_epoch(
            collector,
            replay,
            [0, 1, 2, 3, 4],
            sac.act,
            prior,
            lambda b: prior.expand(5, -1),
            400,
            0,
        )

    env = collector.envs[0]
    model, data = env.model, mujoco.MjData(env.model)

    def raw_steps() -> None:
        for _ in range(500):
            mujoco.mj_step(model, data, nstep=env.frame_skip)

    r_slice, r_raw = rates([epoch_slice, raw_steps], seconds, warmup=1)
    ours, raw = r_slice * 5 * 400, r_raw * 500
    return row(f"collection {family}", ours, raw, "env steps/s", ">= 0.5")


def bench_relabel(seconds: float, device) -> dict:
    """100 000 synthetic transitions for ant-negated-joints (obs 27, act 8, ctx 5, joint model,
    policy 256²): rollout relabeling vs a bare batched forward of the same policy and model."""
    from mier_pl.envs.ant import AntNegatedJointsEnv
    from mier_pl.functional.relabel import reward_relabel, rollout_relabel

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

    r_ours, r_reward, r_bare = (r * n for r in rates([ours, ours_reward, bare], seconds, warmup=1))
    figure = "relabeling, 100k transitions (rollout)"
    return row(figure, r_ours, r_bare, "transitions/s", ">= 0.8", reward_relabel_per_s=r_reward)


def bench_memory() -> dict:
    """Fill a replay the way conf/ant_neg.yaml does: 35 tasks, 5 × 400 exploration each, then
    600 epochs × 5 tasks drawn with replacement × (400 pre-adapt + 600) transitions."""
    rng = np.random.default_rng(0)
    replay = MultiTaskReplay(35, 27, 8, 1_000_000)
    chunk = {n: random_batch(1, n, 27, 8, "cpu") for n in (400, 600)}
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
    return row(figure, gib, 1.2, "GiB", "<= 1.2 GiB", transitions=held)
