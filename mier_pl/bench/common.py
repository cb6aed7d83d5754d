"""Shared pieces of the benchmark: timing, a plain optimiser step, random batches."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from mier_pl.data.batch import TransitionBatch


def rate(fn: Callable[[], None], seconds: float, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def random_batch(tasks: int, n: int, obs: int, act: int, device) -> TransitionBatch:
    g = torch.Generator().manual_seed(0)
    return TransitionBatch(
        obs=torch.randn(tasks, n, obs, generator=g),
        act=torch.rand(tasks, n, act, generator=g) * 2 - 1,
        rew=torch.randn(tasks, n, generator=g),
        next_obs=torch.randn(tasks, n, obs, generator=g),
        terminated=torch.zeros(tasks, n),
        truncated=torch.zeros(tasks, n),
    ).to(device)
