"""Env stepping speed against raw MuJoCo (``python -m benchmarks.env_stepping``).

The physical limit of an env step is ``frame_skip`` calls of ``mj_step``; everything else
(action checks, negation and ctrlrange map, observation, reward, termination, contact forces
where the family needs them) is the Python wrapper's overhead. ``ratio`` is the fraction of the
raw speed the env keeps.
"""

from __future__ import annotations

import time

import mujoco
import numpy as np

from mier_pl.envs import make_env
from mier_pl.envs.mujoco_base import MujocoMetaEnv

FAMILIES = ("cheetah-negated-joints", "ant-negated-joints", "walker-rand-params-ood")
RESET_EVERY = 200


def measure_env_stepping(family: str, num_steps: int = 5000, seed: int = 0) -> dict:
    """Env steps per second of ``family`` and of bare ``mj_step`` on the same model.

    Args:
        family: a MuJoCo family name (``"ant-negated-joints"``).
        num_steps: env steps timed for each of the two measurements.
        seed: seed of the reset and of the uniform random actions (drawn before timing).

    Returns:
        ``{"family", "env_steps_per_s", "raw_steps_per_s", "ratio"}``: our ``step()`` with
        resets on termination or every 200 steps; ``mj_step(model, data, nstep=frame_skip)``
        on a fresh model of the same XML; and env / raw.
    """
    env = make_env(family)
    if not isinstance(env, MujocoMetaEnv):
        raise ValueError(f"{family!r} is not a MuJoCo family; choose one of {FAMILIES}")
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.0, 1.0, size=(num_steps, *env.action_space.shape))
    actions = actions.astype(np.float32)

    env.reset(seed=seed)
    start = time.perf_counter()
    steps_since_reset = 0
    for action in actions:
        _, _, terminated, _, _ = env.step(action)
        steps_since_reset += 1
        if terminated or steps_since_reset == RESET_EVERY:
            env.reset()
            steps_since_reset = 0
    env_time = time.perf_counter() - start

    model, data = env._initialize_simulation()  # a fresh MjModel / MjData of the same XML
    frame_skip = env.frame_skip
    start = time.perf_counter()
    for _ in range(num_steps):
        mujoco.mj_step(model, data, nstep=frame_skip)
    raw_time = time.perf_counter() - start

    env_rate, raw_rate = num_steps / env_time, num_steps / raw_time
    return {
        "family": family,
        "env_steps_per_s": env_rate,
        "raw_steps_per_s": raw_rate,
        "ratio": env_rate / raw_rate,
    }


def main() -> None:
    """Print the env-stepping table for the dynamics-change families."""
    rows = [measure_env_stepping(family) for family in FAMILIES]
    print(f"{'family':<24} {'env steps/s':>12} {'raw steps/s':>12} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['family']:<24} {row['env_steps_per_s']:>12.0f} "
            f"{row['raw_steps_per_s']:>12.0f} {row['ratio']:>6.2f}"
        )


if __name__ == "__main__":
    main()
