"""Optional accelerations, each timed against the default path in the same run.

A flag ships (default off) only where its row here is faster than 1.0:
  matmul precision  ``--matmul_precision high|medium`` (torch.set_float32_matmul_precision):
                    TF32 on CUDA; on CPUs with AVX512-BF16 or AMX, oneDNN's matmul kernels
  torch.compile     inductor on the SAC actor and critics (no flag: slower on the CPU so far)
  CPU acting        ``--model.init_args.collect.act_on cpu``: collection with a CPU copy of
                    the actor (the same path as the default on a CPU; for GPU runs)
CUDA graphs come with ``torch.compile(mode="reduce-overhead")`` on a GPU; this file measures
the default compile mode, which is the one that runs on both devices.
"""

from __future__ import annotations

import math

import torch

from benchmarks.common import elapsed, rates, row, with_precision
from benchmarks.updates import meta_update_step, sac_update_step
from mier_pl.data.algorithm import collect_epoch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.fast.precision import float32_matmul_precision
from mier_pl.modules import ContextSACModule, SACConfig

SHIP = "> 1 to ship"


def precision_error(precision: str, device) -> float:
    """Largest relative error of a 256² float32 matmul under ``precision``, against float64:
    whether the faster kernels also changed the numbers."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(256, 256, generator=g).to(device) for _ in range(2))
    exact = (a.double() @ b.double()).cpu()
    with float32_matmul_precision(precision):
        out = (a @ b).double().cpu()
    return ((out - exact).abs().max() / exact.abs().max()).item()


def bench_matmul_precision(seconds: float, device, precision: str) -> list[dict]:
    """SAC update (ant_neg sizes, batch 2000) and meta-update (cheetah_neg sizes) under
    ``precision`` against the default ``"highest"``, interleaved."""
    error = precision_error(precision, device)
    rows = []
    for name, step in (
        ("SAC update (256², batch 2000)", sac_update_step(device)[0]),
        ("meta-update (10 × 400, ctx 10)", meta_update_step(device)[0]),
    ):
        # with_precision restores the run's setting after every call.
        fast, base = rates(
            [with_precision(precision, step), with_precision("highest", step)],
            seconds,
            device=device,
        )
        figure = f"--matmul_precision {precision}: {name}"
        rows.append(row(figure, fast, base, "updates/s", SHIP, matmul_rel_error=error))
    return rows


def compile_sac(sac: ContextSACModule) -> None:
    """Compile the actor's MLP and both critic stacks in place (inductor, default mode)."""
    sac.actor.net.compile()
    sac.critic.compile()
    sac.target_critic.compile()


def bench_compile(seconds: float, device) -> dict:
    """SAC update (ant_neg sizes, batch 2000) with the networks compiled vs eager; the
    compilation time (first calls) is reported apart."""
    compiled = sac_update_step(device, prepare=compile_sac)[0]
    eager = sac_update_step(device)[0]
    try:
        compile_s = elapsed(compiled, device)  # traces and compiles forward and backward
    except Exception as err:  # no C++ compiler, unsupported device, ...
        figure = f"torch.compile: unavailable ({type(err).__name__})"
        return row(figure, math.nan, math.nan, "", SHIP)
    fast, base = rates([compiled, eager], seconds, device=device)
    figure = "torch.compile (SAC actor + critics): SAC update (256², batch 2000)"
    return row(figure, fast, base, "updates/s", SHIP, compile_seconds=compile_s)


def bench_cpu_acting(
    seconds: float, device, family: str = "cheetah-negated-joints", steps: int = 400
) -> dict:
    """Lockstep collection (5 tasks × ``steps``, policy 256², replay on ``device``) acting
    with a CPU copy of the actor, refreshed per phase, vs acting on ``device``."""
    collector = Collector(family, None, seed=0, device=device)
    env = collector.envs[0]
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    replay = MultiTaskReplay(len(collector.train_tasks), obs_dim, act_dim, 200_000, device)
    sac = ContextSACModule(obs_dim, act_dim, 5, SACConfig(hidden=(256, 256))).to(device)
    prior = torch.zeros(1, 5, device=device)

    def phase(act_on: str):
        def run() -> None:
            policy = sac.policy(act_on)  # a collection phase takes a fresh copy
            collect_epoch(
                collector, replay, [0, 1, 2, 3, 4], policy, prior, lambda b: prior, steps, 0
            )

        return run

    cpu, on_device = rates([phase("cpu"), phase("device")], seconds, warmup=1, device=device)
    figure = f"--model.init_args.collect.act_on cpu: collection {family}"
    return row(figure, cpu * 5 * steps, on_device * 5 * steps, "env steps/s", SHIP)
