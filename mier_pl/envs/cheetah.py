"""Half-cheetah families (docs/algorithm.md §7): target velocity, direction, negated joints.

Model: Gymnasium v5 ``half_cheetah.xml``, frame skip 5 (dt = 0.05 s), reset noise as
``HalfCheetah-v5``. Observation (release, 20): ``qpos[1:]`` (8), ``qvel`` (9) and the torso's
``xpos`` (3). Like the release's ``get_body_com`` it is read straight after ``mj_step``, so it is
the torso position at the start of the last physics substep. x-velocity is
``(qpos[0] after − qpos[0] before) / dt``. The cheetah never terminates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import mujoco
import numpy as np

from mier_pl.envs.mujoco_base import MujocoMetaEnv, NegatedJointsTask, ResetNoise

# Actuator order of half_cheetah.xml; a NegatedJointsTask holds indices into it.
CHEETAH_JOINTS = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")


@dataclass(frozen=True)
class VelocityTask:
    """Run forward at ``velocity`` m/s."""

    velocity: float


@dataclass(frozen=True)
class DirectionTask:
    """Run along +x (``direction`` = 1) or −x (``direction`` = −1)."""

    direction: float


class _CheetahEnv(MujocoMetaEnv):
    """The half-cheetah robot: reward = forward term − ctrl_cost_weight·‖a‖²."""

    xml_file: ClassVar[str] = "half_cheetah.xml"
    sim_frame_skip: ClassVar[int] = 5
    reset_noise_scale: ClassVar[float] = 0.1
    qvel_reset_noise: ClassVar[ResetNoise] = "normal"
    obs_dim: ClassVar[int] = 20
    ctrl_cost_weight: ClassVar[float] = 0.05

    def _init_model(self) -> None:
        self._torso = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "torso")

    def _get_obs(self) -> np.ndarray:
        d = self.data
        return np.concatenate((d.qpos[1:], d.qvel, d.xpos[self._torso]))

    def _reward_terms(self, velocity: np.ndarray, action: np.ndarray) -> dict[str, float]:
        return {
            "forward": self._forward_reward(float(velocity[0])),
            "ctrl": -self._ctrl_cost(action),
        }

    def _forward_reward(self, x_velocity: float) -> float:
        raise NotImplementedError


class _CheetahVelocityEnv(_CheetahEnv):
    """Reward −|v_x − v*| − 0.05‖a‖²; reward-only (docs/algorithm.md §7)."""

    task_parameter_name: ClassVar[str | None] = "target velocity (m/s)"

    reward_only: ClassVar[bool] = True
    task_type: ClassVar[type] = VelocityTask

    def _forward_reward(self, x_velocity: float) -> float:
        return -abs(x_velocity - self.task.velocity)

    def encode_task(self, task: VelocityTask) -> np.ndarray:
        """The target velocity (m/s; the families' range is 0 to about 3.5)."""
        return np.array([task.velocity], np.float32)


def _velocities(rng: np.random.Generator, low: float, high: float, n: int) -> list[VelocityTask]:
    return [VelocityTask(float(v)) for v in rng.uniform(low, high, size=n)]


def _ood_test_velocities(seed: int) -> list[VelocityTask]:
    """The 30 U[2.5, 3] test targets shared by cheetah-vel-medium and -hard.

    They come from their own stream ``default_rng([seed, 1])`` so that both families get the
    same test tasks whatever they draw for training.
    """
    return _velocities(np.random.default_rng([seed, 1]), 2.5, 3.0, 30)


class CheetahVelEnv(_CheetahVelocityEnv):
    """cheetah-vel (benchmark): 100 train and 30 test targets, all U[0, 3]; seed 1337."""

    in_distribution: ClassVar[bool] = True  # a benchmark: the paper's Figure 2
    family: ClassVar[str] = "cheetah-vel"
    env_id: ClassVar[str] = "mier_pl/CheetahVel-v0"

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        tasks = _velocities(rng, 0.0, 3.0, 130)
        return tasks[:100], tasks[100:]


class CheetahVelMediumEnv(_CheetahVelocityEnv):
    """cheetah-vel-medium (OOD): 100 train targets U[0, 2.5], 30 test U[2.5, 3]."""

    family: ClassVar[str] = "cheetah-vel-medium"
    env_id: ClassVar[str] = "mier_pl/CheetahVelMedium-v0"

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        return _velocities(rng, 0.0, 2.5, 100), _ood_test_velocities(seed)


class CheetahVelHardEnv(_CheetahVelocityEnv):
    """cheetah-vel-hard (OOD): 100 train targets U[0, 1.5], the same 30 test as medium."""

    family: ClassVar[str] = "cheetah-vel-hard"
    env_id: ClassVar[str] = "mier_pl/CheetahVelHard-v0"

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        return _velocities(rng, 0.0, 1.5, 100), _ood_test_velocities(seed)


class CheetahDirEnv(_CheetahEnv):
    """cheetah-dir (benchmark): run forward or backward; reward dir·v_x − 0.05‖a‖²."""

    task_parameter_name: ClassVar[str | None] = "direction"

    in_distribution: ClassVar[bool] = True  # a benchmark: the paper's Figure 2
    family: ClassVar[str] = "cheetah-dir"
    env_id: ClassVar[str] = "mier_pl/CheetahDir-v0"
    reward_only: ClassVar[bool] = True
    task_type: ClassVar[type] = DirectionTask

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        return [DirectionTask(1.0), DirectionTask(-1.0)], []

    def _forward_reward(self, x_velocity: float) -> float:
        return self.task.direction * x_velocity

    def encode_task(self, task: DirectionTask) -> np.ndarray:
        """The direction, +1 or −1."""
        return np.array([task.direction], np.float32)


class CheetahNegatedJointsEnv(_CheetahEnv):
    """cheetah-negated-joints (OOD): some actuators receive −a; reward v_x − 0.1‖a‖².

    Train: negate 3 of bthigh..fshin (indices 0-4), C(5, 3) = 10 tasks. Test: negate 2 of
    0-4 and always ffoot (5), 10 tasks. Both in ``itertools.combinations`` order. The control
    cost charges the policy's action, before negation.
    """

    family: ClassVar[str] = "cheetah-negated-joints"
    env_id: ClassVar[str] = "mier_pl/CheetahNegatedJoints-v0"
    reward_only: ClassVar[bool] = False
    task_type: ClassVar[type] = NegatedJointsTask
    ctrl_cost_weight: ClassVar[float] = 0.1

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [NegatedJointsTask(c) for c in itertools.combinations(range(5), 3)]
        test = [NegatedJointsTask((*c, 5)) for c in itertools.combinations(range(5), 2)]
        return train, test

    def _apply_task(self, task: NegatedJointsTask) -> None:
        self._negate_joints(task.joints)

    def _forward_reward(self, x_velocity: float) -> float:
        return x_velocity
