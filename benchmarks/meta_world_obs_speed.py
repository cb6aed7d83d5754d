"""The fast Meta-World observation, before and after (``python -m benchmarks.meta_world_obs_speed``).

``mier_pl.fast.meta_world_obs`` replaces SciPy's quaternion and Meta-World's packing of the
observation (docs/metaworld.md, Speed). This measures what it buys, with "before" and "after"
alternating in one process so that a shared machine's drift reaches both alike:

- env steps/s of the family env: 3000 uniform random actions, a reset every 500 (ml10: 200
  steps on each of its 15 environments), for metaworld's own ``env.step`` (no patch at all),
  the family env before (``touching_object`` only) and after (the fast observation too);
- the ``collection`` rows of ``python -m benchmarks`` (:func:`benchmarks.data.bench_collection`,
  against raw ``mj_step``), before and after.

"Before" is :func:`~mier_pl.fast.meta_world_obs.uninstall` on every env built, which also puts
SciPy's ``Rotation`` back in the env classes' modules. Needs metaworld.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks.data import bench_collection
from mier_pl.envs import make_env
from mier_pl.envs.meta_world import _NO_LIMIT
from mier_pl.fast import meta_world_obs

FAMILIES = ("ml1-reach", "ml1-push", "ml1-pick-place", "ml10")
RESET_EVERY = 500


def _steps_per_s(
    step: Callable, reset: Callable, set_task: Callable, tasks: list, actions: np.ndarray
) -> float:
    start, count = time.perf_counter(), 0
    for task in tasks:
        set_task(task)
        reset()
        for i, action in enumerate(actions):
            step(action)
            if (i + 1) % RESET_EVERY == 0:
                reset()
        count += len(actions)
    return count / (time.perf_counter() - start)


def env_stepping(family: str, rounds: int = 4, seed: int = 0) -> dict[str, float]:
    """Median env steps/s of ``family``: ``{"metaworld", "before", "after"}``."""
    env = make_env(family)
    rng = np.random.default_rng(seed)
    if len(env.env_names) > 1:
        every = env.train_tasks + env.test_tasks
        tasks = [next(t for t in every if t.env_name == name) for name in env.env_names]
        actions = rng.uniform(-1.0, 1.0, (200, 4)).astype(np.float32)
    else:
        tasks = [env.train_tasks[0]]
        actions = rng.uniform(-1.0, 1.0, (3000, 4)).astype(np.float32)
    for task in tasks:
        env.set_task(task)  # builds every Meta-World env of the family
    built = list(env._envs.values())
    bench, plain = env._benchmark, {}
    current: dict[str, Any] = {}

    def plain_set_task(task) -> None:  # metaworld's env as the package makes it, untouched
        if task.env_name not in plain:
            plain[task.env_name] = bench.classes[task.env_name]()
            plain[task.env_name].max_path_length = _NO_LIMIT
        current["env"] = plain[task.env_name]
        current["env"].set_task(bench.data[task])

    modes = {
        "metaworld": (
            lambda a: current["env"].step(a),
            lambda: current["env"].reset(),
            plain_set_task,
        ),
        "before": (env.step, env.reset, env.set_task),
        "after": (env.step, env.reset, env.set_task),
    }
    rates: dict[str, list[float]] = {name: [] for name in modes}
    for r in range(rounds):
        for name in list(modes) if r % 2 == 0 else list(modes)[::-1]:
            for inner in built:
                (meta_world_obs.install if name == "after" else meta_world_obs.uninstall)(inner)
            rates[name].append(_steps_per_s(*modes[name], tasks, actions))
    return {name: float(np.median(v)) for name, v in rates.items()}


def collection(family: str, rounds: int = 4, seconds: float = 3.0) -> dict[str, list[dict]]:
    """``bench_collection(family)`` rows with the package's observation and with the fast one."""
    install = meta_world_obs.install
    rows: dict[str, list[dict]] = {"before": [], "after": []}
    try:
        for r in range(rounds):
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                # the family's _env_for calls meta_world_obs.install on each env it builds
                meta_world_obs.install = install if name == "after" else meta_world_obs.uninstall
                rows[name].append(bench_collection(family, seconds, "cpu"))
    finally:
        meta_world_obs.install = install
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meta_world_obs_speed")
    parser.add_argument("--rounds", type=int, default=4, help="measurements of each side")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| env steps/s | metaworld env.step | family before | family after | after/before |")
    print("|---|---|---|---|---|")
    for family in FAMILIES:
        m = env_stepping(family, args.rounds)
        print(
            f"| {family} | {m['metaworld']:.0f} | {m['before']:.0f} | {m['after']:.0f} "
            f"| {m['after'] / m['before']:.2f} |"
        )
    print("\n| figure | before | after | raw mj_step | ratio before | ratio after |")
    print("|---|---|---|---|---|---|")
    for family in ("ml1-reach", "ml1-pick-place", "cheetah-negated-joints"):
        rows = collection(family, args.rounds)
        med = {
            k: {f: float(np.median([r[f] for r in v])) for f in ("ours", "limit", "ratio")}
            for k, v in rows.items()
        }
        raw = np.median([r["limit"] for v in rows.values() for r in v])
        print(
            f"| collection {family} | {med['before']['ours']:.0f} | {med['after']['ours']:.0f} "
            f"| {raw:.0f} | {med['before']['ratio']:.3f} | {med['after']['ratio']:.3f} |"
        )


if __name__ == "__main__":
    main()
