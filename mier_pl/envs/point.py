"""Cheap families of our own (docs/algorithm.md §7b): a 2-D point, pure NumPy, no MuJoCo.

They exist so that tests, tutorials and learning checks finish in minutes on a CPU while
exercising both kinds of task change MIER handles: the reward (point-goal, like ant-dir) and
the dynamics (point-rotated, like the negated-joints families).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from mier_pl.envs.meta_env import MetaEnv

STEP_SIZE = 0.1


@dataclass(frozen=True)
class GoalTask:
    """Reach ``goal`` (x, y); ``angle`` is its polar angle in radians."""

    angle: float

    @property
    def goal(self) -> tuple[float, float]:
        return (math.cos(self.angle), math.sin(self.angle))


@dataclass(frozen=True)
class RotationTask:
    """Actions are rotated by ``angle`` radians before they move the point."""

    angle: float


class _PointEnv(MetaEnv):
    """A point at the origin; ``a`` in [-1, 1]^2 moves it by 0.1·R·a; reward = −‖p − goal‖."""

    max_episode_steps: ClassVar[int] = 30
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, family_seed: int | None = None, render_mode: str | None = None) -> None:
        del render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2)
        self._goal = np.array([1.0, 0.0])
        self._rotation = np.eye(2)
        self._init_tasks(family_seed)
        self.set_task(self.train_tasks[0])

    @property
    def position(self) -> np.ndarray:
        """Where the point is (a copy)."""
        return self._pos.copy()

    @property
    def goal(self) -> np.ndarray:
        """The current task's goal (a copy)."""
        return self._goal.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._pos = np.zeros(2)
        return self._pos.copy(), {}

    def step(self, action: Any):
        a = np.clip(self._check_action(action), -1.0, 1.0)
        self._pos = self._pos + STEP_SIZE * (self._rotation @ a)
        reward = -float(np.linalg.norm(self._pos - self._goal))
        return self._pos.copy(), reward, False, False, {}

    def encode_task(self, task: GoalTask | RotationTask) -> np.ndarray:
        """(cos, sin) of the goal's or the rotation's angle."""
        return np.array([math.cos(task.angle), math.sin(task.angle)], np.float32)


class PointGoalEnv(_PointEnv):
    """point-goal: the goal moves around the unit circle (a reward change)."""

    task_parameter_name: ClassVar[str | None] = "goal angle (°)"

    family: ClassVar[str] = "point-goal"
    env_id: ClassVar[str] = "mier_pl/PointGoal-v0"
    reward_only: ClassVar[bool] = True
    task_type: ClassVar[type] = GoalTask

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [GoalTask(float(a)) for a in rng.uniform(0.0, 1.5 * math.pi, size=40)]
        test = [
            GoalTask(float(a)) for a in np.linspace(1.5 * math.pi, 2 * math.pi, 10, endpoint=False)
        ]
        return train, test

    def _apply_task(self, task: GoalTask) -> None:
        self._goal = np.array(task.goal)


class PointRotatedEnv(_PointEnv):
    """point-rotated: the goal is fixed at (1, 0); each task rotates the action (a dynamics change)."""

    task_parameter_name: ClassVar[str | None] = "rotation angle (°)"

    family: ClassVar[str] = "point-rotated"
    env_id: ClassVar[str] = "mier_pl/PointRotated-v0"
    reward_only: ClassVar[bool] = False
    task_type: ClassVar[type] = RotationTask

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [RotationTask(float(a)) for a in rng.uniform(-math.pi / 4, math.pi / 4, size=20)]
        test = [RotationTask(float(a)) for a in np.linspace(math.pi / 3, math.pi / 2, 10)]
        return train, test

    def _apply_task(self, task: RotationTask) -> None:
        c, s = math.cos(task.angle), math.sin(task.angle)
        self._rotation = np.array([[c, -s], [s, c]])
