"""Walker random-physics families (docs/algorithm.md §7): each task rescales the walker's physics.

Model: Gymnasium v5 ``walker2d_v5.xml``, frame skip 4 (dt = 0.008 s), reset noise as
``Walker2d-v5``. Observation (release, 17): ``qpos[1:]`` (8) and ``clip(qvel, ±10)`` (9), so
``obs[0]`` is the height and ``obs[1]`` the torso angle. Reward Δx/dt + 1 − 1e-3‖a‖² with the
release's constant survive bonus. Terminated: not (0.8 < height < 2 and −1 < angle < 1).

A task scales each element of ``body_mass``, ``body_inertia`` and ``geom_friction`` by
1.5^U(−3, 3) and of ``dof_damping`` by 1.3^U(−3, 3) (the release's rand_param_envs, drawn per
task in that file's order: mass, inertia, damping, friction). Switching task writes
default × scale from copies taken at construction, so it is exact and reversible.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import ClassVar

import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco.mujoco_env import expand_model_path

from mier_pl.envs.mujoco_base import MujocoMetaEnv, ResetNoise

HEALTHY_HEIGHT = (0.8, 2.0)
HEALTHY_ANGLE = (-1.0, 1.0)
LOG_SCALE_LIMIT = 3.0


@dataclass(frozen=True)
class PhysicsTask:
    """Per-element multipliers of the default model parameters, flattened row-major.

    ``body_inertia`` and ``geom_friction`` hold 3 numbers per body / geom.
    """

    body_mass: tuple[float, ...]
    body_inertia: tuple[float, ...]
    dof_damping: tuple[float, ...]
    geom_friction: tuple[float, ...]


# The scaled model fields, in the order their scales are drawn.
PHYSICS_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PhysicsTask))
# Base b of each field's multiplier b^U(−3, 3).
SCALE_BASE = {"body_mass": 1.5, "body_inertia": 1.5, "dof_damping": 1.3, "geom_friction": 1.5}


class _WalkerRandParamsEnv(MujocoMetaEnv):
    """The 2-D walker with per-task physics; a dynamics change (joint model, docs/algorithm.md §8)."""

    xml_file: ClassVar[str] = "walker2d_v5.xml"
    sim_frame_skip: ClassVar[int] = 4
    reset_noise_scale: ClassVar[float] = 5e-3
    qvel_reset_noise: ClassVar[ResetNoise] = "uniform"
    obs_dim: ClassVar[int] = 17
    ctrl_cost_weight: ClassVar[float] = 1e-3
    reward_only: ClassVar[bool] = False
    task_type: ClassVar[type] = PhysicsTask

    # ---------------------------------------------------------------- tasks
    @classmethod
    @functools.cache
    def param_sizes(cls) -> dict[str, int]:
        """Number of scale elements per field, read from the model."""
        model = mujoco.MjModel.from_xml_path(expand_model_path(cls.xml_file))
        return {name: getattr(model, name).size for name in PHYSICS_FIELDS}

    @classmethod
    def random_physics(cls, rng: np.random.Generator, n: int) -> list[PhysicsTask]:
        """``n`` tasks of multipliers base^U(−3, 3), drawn task by task, field by field."""
        sizes = cls.param_sizes()
        tasks = []
        for _ in range(n):
            scales = {}
            for name in PHYSICS_FIELDS:
                exponents = rng.uniform(-LOG_SCALE_LIMIT, LOG_SCALE_LIMIT, size=sizes[name])
                scales[name] = _floats(SCALE_BASE[name] ** exponents)
            tasks.append(PhysicsTask(**scales))
        return tasks

    def _init_model(self) -> None:
        self._default_physics = {n: getattr(self.model, n).copy() for n in PHYSICS_FIELDS}
        # mj_setConst needs an MjData as workspace; a spare one leaves the live state alone,
        # so a task switch mid-episode takes effect from the next step.
        self._const_data = mujoco.MjData(self.model)

    def _apply_task(self, task: PhysicsTask) -> None:
        scales = {name: np.asarray(getattr(task, name), np.float64) for name in PHYSICS_FIELDS}
        for name, scale in scales.items():  # check all before changing anything
            if scale.size != self._default_physics[name].size:
                raise ValueError(
                    f"{self.family}: PhysicsTask.{name} has {scale.size} scales, the model "
                    f"needs {self._default_physics[name].size}; build tasks with make_tasks "
                    f"or random_physics"
                )
        for name, scale in scales.items():
            default = self._default_physics[name]
            getattr(self.model, name)[:] = default * scale.reshape(default.shape)
        # Departure from the release (mujoco-py never did this): recompute the constants MuJoCo
        # derives from masses and inertias at compile time (body_subtreemass, dof_invweight0,
        # ...), which would otherwise still describe the default walker.
        mujoco.mj_setConst(self.model, self._const_data)

    def encode_task(self, task: PhysicsTask) -> np.ndarray:
        """Every scale's exponent over its limit, log_b(scale) / 3 in [−1, 1], field by field."""
        parts = [
            np.log(np.asarray(getattr(task, name))) / (np.log(SCALE_BASE[name]) * LOG_SCALE_LIMIT)
            for name in PHYSICS_FIELDS
        ]
        return np.concatenate(parts).astype(np.float32)

    # ---------------------------------------------------------------- robot
    def _get_obs(self) -> np.ndarray:
        return np.concatenate((self.data.qpos[1:], np.clip(self.data.qvel, -10.0, 10.0)))

    def _reward_terms(self, velocity: np.ndarray, action: np.ndarray) -> dict[str, float]:
        return {"forward": float(velocity[0]), "survive": 1.0, "ctrl": -self._ctrl_cost(action)}

    def _terminated(self) -> bool:
        height, angle = self.data.qpos[1:3]
        healthy = (
            HEALTHY_HEIGHT[0] < height < HEALTHY_HEIGHT[1]
            and HEALTHY_ANGLE[0] < angle < HEALTHY_ANGLE[1]
        )
        return not healthy

    @staticmethod
    def termination_fn(
        obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor
    ) -> torch.Tensor:
        """not (0.8 < height < 2 and −1 < angle < 1), height = ``next_obs[..., 0]``, angle ``[..., 1]``."""
        del obs, act
        height, angle = next_obs[..., 0], next_obs[..., 1]
        healthy = (
            (height > HEALTHY_HEIGHT[0])
            & (height < HEALTHY_HEIGHT[1])
            & (angle > HEALTHY_ANGLE[0])
            & (angle < HEALTHY_ANGLE[1])
        )
        return ~healthy


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(values))


class WalkerRandParamsEnv(_WalkerRandParamsEnv):
    """walker-rand-params (benchmark): 40 train and 10 test tasks of random physics.

    The release fixes no seed for this family; 1337 is our choice.
    """

    in_distribution: ClassVar[bool] = True  # a benchmark: the paper's Figure 2
    family: ClassVar[str] = "walker-rand-params"
    env_id: ClassVar[str] = "mier_pl/WalkerRandParams-v0"
    default_family_seed: ClassVar[int] = 1337

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        tasks = cls.random_physics(rng, 50)
        return tasks[:40], tasks[40:]


class WalkerRandParamsOODEnv(_WalkerRandParamsEnv):
    """walker-rand-params (OOD): 40 train tasks of random physics, 20 far-out test tasks.

    Test multipliers are |N(mean + 5σ, σ)| per element, with mean and σ (population std) of
    that element over the 40 train tasks, drawn from the same generator after the train tasks,
    task by task, field by field; seed 42.
    """

    family: ClassVar[str] = "walker-rand-params-ood"
    env_id: ClassVar[str] = "mier_pl/WalkerRandParamsOOD-v0"
    default_family_seed: ClassVar[int] = 42

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = cls.random_physics(rng, 40)
        stats = {}
        for name in PHYSICS_FIELDS:
            scales = np.array([getattr(t, name) for t in train])
            stats[name] = (scales.mean(axis=0), scales.std(axis=0))
        test = []
        for _ in range(20):
            scales = {
                name: _floats(np.abs(rng.normal(mean + 5.0 * std, std)))
                for name, (mean, std) in stats.items()
            }
            test.append(PhysicsTask(**scales))
        return train, test
