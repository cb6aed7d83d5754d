"""Shared pieces of the benchmark: timing, a plain optimiser step, random batches."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.fast.precision import Precision, float32_matmul_precision


def synchronizer(device: torch.device | str | None) -> Callable[[], None]:
    """A function that waits until ``device`` has run every queued kernel (a no-op off CUDA).

    CUDA kernels run asynchronously: a clock read without it times their queuing, and in
    interleaved slices one side's kernels would run, and be charged, in the other's slice.
    """
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def rates(
    fns: Sequence[Callable[[], None]],
    seconds: float,
    warmup: int = 3,
    max_rounds: int = 8,
    device: torch.device | str | None = None,
) -> list[float]:
    """Calls per second of each of ``fns``, timed in interleaved slices of at least 0.25 s.

    A shared VM's speed drifts by ±10 % over seconds; timing ours and its reference in
    alternating slices (up to ``max_rounds`` per function) exposes both to the same drift, so
    their ratio holds where back-to-back measurements did not (the SAC peer ratio read
    1.12-1.32 when measured back to back). On a CUDA ``device`` each slice starts and ends
    with a synchronize, so it times the kernels it queued, all of them and only them.
    """
    sync = synchronizer(device)
    rounds = max(1, min(max_rounds, int(seconds / 0.25)))
    for fn in fns:
        for _ in range(warmup):
            fn()
    calls, spent = [0] * len(fns), [0.0] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            sync()
            t0 = time.perf_counter()
            while True:
                fn()
                calls[i] += 1
                if time.perf_counter() - t0 >= seconds / rounds:  # queued enough
                    break
            sync()
            spent[i] += time.perf_counter() - t0
    return [c / s for c, s in zip(calls, spent)]


def elapsed(fn: Callable[[], object], device: torch.device | str | None = None) -> float:
    """Seconds ``fn()`` takes, its kernels on ``device`` included (see :func:`synchronizer`)."""
    sync = synchronizer(device)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def row(figure: str, ours: float, limit: float, unit: str, target: str, **extra) -> dict:
    """One figure of the table: ours next to its limit or peer, and their ratio."""
    return {
        "figure": figure,
        "ours": ours,
        "limit": limit,
        "ratio": ours / limit,
        "unit": unit,
        "target": target,
        **extra,
    }


def short_fit_args(config: str, epochs: int, steps: int) -> list[str]:
    """``python -m mier_pl`` arguments of a timing run of ``config`` (a MIER family config):
    ``epochs`` epochs of ``steps`` training steps, one exploration round, no model warm-up
    (it is not an epoch's cost), no evaluation, no progress bar, one device (``auto`` would
    start DDP inside the benchmark on a multi-GPU host)."""
    return [
        "fit",
        "--config",
        config,
        "--trainer.max_epochs",
        str(epochs),
        "--data.steps_per_epoch",
        str(steps),
        "--model.init_args.collect.initial_exploration_repeats",
        "1",
        "--model.init_args.dynamics.warmup_steps",
        "0",
        "--model.init_args.eval.interval",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.devices",
        "1",
    ]


def with_precision(precision: Precision, step: Callable[[], None]) -> Callable[[], None]:
    """``step`` run at float32 matmul ``precision`` (set on every call, so that interleaved
    timing can alternate settings)."""

    def run() -> None:
        with float32_matmul_precision(precision):
            step()

    return run


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
