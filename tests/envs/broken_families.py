"""Families for the checker's tests: one that keeps the contract, and each of the others
breaks it in exactly one way (tests/envs/test_check.py names them by import path)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from mier_pl.envs.meta_env import MetaEnv
from mier_pl.envs.point import GoalTask, PointGoalEnv, PointRotatedEnv


class GoodPoint(PointGoalEnv):
    """point-goal under a name of its own: keeps the contract."""

    family: ClassVar[str] = "good-point"
    env_id: ClassVar[str] = "tests/GoodPoint-v0"


class NotAFamily:
    """Not a MetaEnv."""


class NoTaskType(MetaEnv):
    family: ClassVar[str] = "no-task-type"
    env_id: ClassVar[str] = "tests/NoTaskType-v0"
    reward_only: ClassVar[bool] = True


class NoMakeTasks(MetaEnv):
    family: ClassVar[str] = "no-make-tasks"
    env_id: ClassVar[str] = "tests/NoMakeTasks-v0"
    reward_only: ClassVar[bool] = True
    task_type: ClassVar[type] = GoalTask

    def step(self, action: Any):
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        raise NotImplementedError


class InheritedName(PointGoalEnv):
    """Forgets to name itself: the built-in point-goal's family and env_id."""


class WideActions(GoodPoint):
    env_id: ClassVar[str] = "tests/WideActions-v0"

    def __init__(self, family_seed: int | None = None, render_mode: str | None = None) -> None:
        super().__init__(family_seed, render_mode)
        self.action_space = spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)


class Float32Obs(GoodPoint):
    """Says float64 observations, returns float32 ones."""

    env_id: ClassVar[str] = "tests/Float32Obs-v0"

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        return obs.astype(np.float32), info

    def step(self, action: Any):
        obs, *rest = super().step(action)
        return (obs.astype(np.float32), *rest)


class Truncates(GoodPoint):
    env_id: ClassVar[str] = "tests/Truncates-v0"

    def step(self, action: Any):
        obs, reward, terminated, _, info = super().step(action)
        return obs, reward, terminated, True, info


class GlobalRngTasks(GoodPoint):
    """Draws its goals from NumPy's global generator, not the family seed's."""

    env_id: ClassVar[str] = "tests/GlobalRngTasks-v0"

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        angles = np.random.uniform(0, 6, size=12)
        return [GoalTask(float(a)) for a in angles[:8]], [GoalTask(float(a)) for a in angles[8:]]


class SharedSplits(GoodPoint):
    env_id: ClassVar[str] = "tests/SharedSplits-v0"

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [GoalTask(float(a)) for a in rng.uniform(0, 6, size=8)]
        return train, [train[0], GoalTask(6.1)]


class SetTaskUnchecked(GoodPoint):
    """Overrides set_task without the task_type check."""

    env_id: ClassVar[str] = "tests/SetTaskUnchecked-v0"

    def set_task(self, task: Any) -> None:
        if isinstance(task, GoalTask):
            self._apply_task(task)
        self._task = task


class TerminationDisagrees(GoodPoint):
    """step ends an episode beyond radius 0.3; termination_fn never does."""

    env_id: ClassVar[str] = "tests/TerminationDisagrees-v0"

    def step(self, action: Any):
        obs, reward, _, truncated, info = super().step(action)
        return obs, reward, bool(np.linalg.norm(obs) > 0.3), truncated, info


class TerminationNotBatched(GoodPoint):
    """termination_fn on one transition only (a Python bool)."""

    env_id: ClassVar[str] = "tests/TerminationNotBatched-v0"

    @staticmethod
    def termination_fn(obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor):
        return bool(next_obs.norm() > 10.0)


class EncodingNotFinite(GoodPoint):
    env_id: ClassVar[str] = "tests/EncodingNotFinite-v0"

    def encode_task(self, task: GoalTask) -> np.ndarray:
        return np.array([np.nan, 0.0], np.float32)


class EncodingFloat64(GoodPoint):
    env_id: ClassVar[str] = "tests/EncodingFloat64-v0"

    def encode_task(self, task: GoalTask) -> np.ndarray:
        return np.array([np.cos(task.angle), np.sin(task.angle)])


class RewardOnlyLies(PointRotatedEnv):
    """The action rotation changes the dynamics, yet it claims reward_only."""

    family: ClassVar[str] = "reward-only-lies"
    env_id: ClassVar[str] = "tests/RewardOnlyLies-v0"
    reward_only: ClassVar[bool] = True


class RewardOnlyUnclaimed(GoodPoint):
    """Only the goal (the reward) changes, yet it claims a dynamics change."""

    env_id: ClassVar[str] = "tests/RewardOnlyUnclaimed-v0"
    reward_only: ClassVar[bool] = False


class TasksChangeNothing(GoodPoint):
    """_apply_task forgets to move the goal."""

    env_id: ClassVar[str] = "tests/TasksChangeNothing-v0"

    def _apply_task(self, task: GoalTask) -> None:
        pass


class ZeroHorizon(GoodPoint):
    family: ClassVar[str] = "zero-horizon"
    env_id: ClassVar[str] = "tests/ZeroHorizon-v0"
    max_episode_steps: ClassVar[int] = 0


class RebuildsModel(GoodPoint):
    """Builds a new 'model' object on every switch."""

    env_id: ClassVar[str] = "tests/RebuildsModel-v0"

    def _apply_task(self, task: GoalTask) -> None:
        super()._apply_task(task)
        self.model = object()
