"""The task-family interface every mier_pl environment implements.

A *family* is a distribution of MDPs sharing state and action spaces (docs/algorithm.md §1). The
environment object holds the family's fixed train and test task lists and switches task in
place with :meth:`MetaEnv.set_task`, so a collector can keep one env per concurrent task slot
and never rebuild a MuJoCo model. The relabeler needs the family's termination rule as a pure
batched function of torch tensors: :meth:`MetaEnv.termination_fn`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

import gymnasium as gym
import numpy as np
import torch

Split = Literal["train", "test"]
TaskT = TypeVar("TaskT")


class MetaEnv(gym.Env, Generic[TaskT]):
    """Mixin contract for a task family; concrete envs set the class variables.

    Attributes:
        family: the family's name as used in configs (``"ant-negated-joints"``).
        env_id: the Gymnasium id it is registered under (``"mier_pl/AntNegatedJoints-v0"``).
        reward_only: True when tasks differ only in reward (docs/algorithm.md §8): such families use
            separate reward/state models and reward relabeling; others use the joint model
            and rollout relabeling.
        max_episode_steps: the horizon (200, or 30 for the point families).
        default_family_seed: seed of the local generator the task lists come from.
        task_type: the type of one task description; :meth:`set_task` rejects others.
        reports_success: the env's ``info["success"]`` says whether a step achieved the task
            (Meta-World); an episode succeeds when it is ever true, and the evaluation then
            logs success rates beside the returns.
        in_distribution: the test tasks are drawn from the train tasks' distribution (the
            PEARL benchmarks, the paper's Figure 2), or the family has train tasks only;
            False (the default): an out-of-distribution test split (Figures 4-5).
            ``python -m mier_pl reproduce`` draws Figure 2 for the former.
        disjoint_splits: no test task is also a train task (True, the default, for every
            built-in family); ``python -m mier_pl check_family`` checks it. Set False only
            for a family whose test split deliberately repeats train tasks.
        task_parameter_name: the axis label of :meth:`task_parameter` in results plots
            (``"target velocity (m/s)"``); ``None``: a generic label.
    """

    family: ClassVar[str]
    env_id: ClassVar[str]
    reward_only: ClassVar[bool]
    max_episode_steps: ClassVar[int] = 200
    default_family_seed: ClassVar[int] = 1337
    task_type: ClassVar[type]
    task_parameter_name: ClassVar[str | None] = None  # see task_parameter
    reports_success: ClassVar[bool] = False
    in_distribution: ClassVar[bool] = False
    disjoint_splits: ClassVar[bool] = True

    train_tasks: tuple[TaskT, ...]
    test_tasks: tuple[TaskT, ...]
    _task: TaskT

    def _init_tasks(self, family_seed: int | None) -> None:
        """Build the task lists from a *local* generator (never NumPy's global one)."""
        seed = self.default_family_seed if family_seed is None else family_seed
        self.family_seed = seed
        train, test = self.make_tasks(np.random.default_rng(seed), seed)
        self.train_tasks, self.test_tasks = tuple(train), tuple(test)
        if not self.train_tasks:
            raise ValueError(f"{self.family}: the family has no train tasks")

    @classmethod
    def make_tasks(
        cls, rng: np.random.Generator, seed: int
    ) -> tuple[Sequence[TaskT], Sequence[TaskT]]:
        """Return (train tasks, test tasks); ``rng`` is seeded with ``seed``."""
        raise NotImplementedError

    @classmethod
    def missing_dependency(cls) -> str | None:
        """What to install before the family can be built (``None``: nothing is missing)."""
        return None

    # ----------------------------------------------------------------- tasks
    @property
    def task(self) -> TaskT:
        """The task the env currently runs."""
        return self._task

    def tasks(self, split: Split) -> tuple[TaskT, ...]:
        if split == "train":
            return self.train_tasks
        if split == "test":
            return self.test_tasks
        raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")

    def set_task(self, task: TaskT) -> None:
        """Switch to ``task`` in place (no model rebuild); takes effect from the next step."""
        if not isinstance(task, self.task_type):
            raise TypeError(
                f"{self.family} takes tasks of type {self.task_type.__name__}, got "
                f"{type(task).__name__} ({task!r}); is it a task of another family? Use "
                f"env.train_tasks[i] or env.test_tasks[i] of a {self.family} env."
            )
        self._apply_task(task)  # first, so a task it rejects does not become the current one
        self._task = task

    def set_task_index(self, split: Split, index: int) -> None:
        """Switch to task ``index`` of ``split``, checking the range."""
        tasks = self.tasks(split)
        if not 0 <= index < len(tasks):
            raise IndexError(
                f"{self.family} has {len(tasks)} {split} tasks: valid indices are "
                f"0..{len(tasks) - 1}, got {index}"
            )
        self.set_task(tasks[index])

    def _apply_task(self, task: TaskT) -> None:
        """Family hook: change physics or reward parameters for ``task``."""

    def encode_task(self, task: TaskT) -> np.ndarray:
        """The task as a small numeric vector (float32): what an oracle-context policy is told.

        Families encode what varies between their tasks, scaled to about [-1, 1]: the goal's
        direction as (cos, sin), a target velocity, a negated-joint mask, log physics scales.
        The oracle policy (``--model.init_args.context_source oracle``) acts on it in place of
        φ_T, so its returns are the upper bound MIER's are measured against.
        """
        raise NotImplementedError(
            f"{self.family} defines no task encoding, so it has no oracle-context baseline; "
            f"implement encode_task on {type(self).__name__}"
        )

    def task_parameter(self, task: TaskT) -> tuple[str, float] | None:
        """The one number a results plot sets a task's return against (the paper's Figure 5),
        with its name: a 1-d encoding itself (a target velocity, a direction ±1), a 2-d one,
        (cos, sin), as its angle in degrees in [0, 360); None where tasks differ in more than
        one number (negated joints, physics scales: plots then use the task's index)."""
        try:
            code = self.encode_task(task)
        except NotImplementedError:
            return None
        if code.shape[0] == 1:
            return self.task_parameter_name or "task value", float(code[0])
        if code.shape[0] == 2:
            angle = math.degrees(math.atan2(float(code[1]), float(code[0]))) % 360.0
            return self.task_parameter_name or "task angle (°)", angle
        return None

    @property
    def task_encoding_dim(self) -> int:
        """Size of :meth:`encode_task`'s vector (0 when the family defines none)."""
        try:
            return int(self.encode_task(self.train_tasks[0]).shape[0])
        except NotImplementedError:
            return 0

    # ---------------------------------------------------------------- checks
    def _check_action(self, action: Any) -> np.ndarray:
        """Return ``action`` as a float array, naming the expected shape if it is wrong."""
        a = np.asarray(action, dtype=np.float64)
        expected = self.action_space.shape
        if a.shape != expected:
            raise ValueError(f"{self.family}: action must have shape {expected}, got {a.shape}")
        return a

    # ------------------------------------------------------------ relabeling
    @staticmethod
    def termination_fn(
        obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor
    ) -> torch.Tensor:
        """Batched termination rule: bool tensor of shape ``next_obs.shape[:-1]``.

        The default is "never terminates".
        """
        del obs, act
        return torch.zeros(next_obs.shape[:-1], dtype=torch.bool, device=next_obs.device)


def describe_task(task: Any) -> str:
    """A short label for a task dataclass: ``angle=1.05``, ``joints=(0, 2, 5)``; a task type with
    a ``describe()`` method gives its own (Meta-World's: the field list overflows a caption)."""
    if callable(describe := getattr(task, "describe", None)):
        return describe()
    if not dataclasses.is_dataclass(task):
        return repr(task)

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, (tuple, list)) and len(v) > 6:
            if all(isinstance(x, (int, float)) for x in v):
                return f"<{len(v)} values in {min(v):.2g}..{max(v):.2g}>"
            return f"<{len(v)} values>"
        if isinstance(v, (tuple, list)) and v and all(isinstance(x, float) for x in v):
            return "(" + ", ".join(f"{x:.3g}" for x in v) + ")"  # e.g. a Meta-World goal
        return repr(v)

    return ", ".join(f"{f.name}={fmt(getattr(task, f.name))}" for f in dataclasses.fields(task))
