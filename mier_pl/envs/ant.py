"""Ant families (docs/algorithm.md §7): direction of travel and negated actuators.

Model: Gymnasium v5 ``ant.xml``, frame skip 5 (dt = 0.05 s), reset noise as ``Ant-v5``.
Observation (release, 27): ``qpos[2:]`` (13) and ``qvel`` (14), no contact forces; so
``obs[0]`` is the torso height. Reward: forward term + 1 − 0.5‖a‖² − 5e-4·Σ clip(cfrc_ext, ±1)²,
with contact forces computed by ``mj_rnePostConstraint`` after the step. The survive bonus is
the release's constant 1 (Gymnasium's v5 pays it only while healthy; they differ on the terminal
step alone). Velocities come from the torso's free-joint position ``qpos[:2]`` before and after
the step (the torso's ``xpos`` read after ``mj_step`` would lag one physics substep behind).
Terminated: the state is not finite or the torso height is outside [0.2, 1.0].
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import torch

from mier_pl.envs.mujoco_base import HeadingTask, MujocoMetaEnv, NegatedJointsTask, ResetNoise

HEALTHY_Z = (0.2, 1.0)


class _AntEnv(MujocoMetaEnv):
    """The ant robot; families choose the forward term."""

    xml_file: ClassVar[str] = "ant.xml"
    sim_frame_skip: ClassVar[int] = 5
    reset_noise_scale: ClassVar[float] = 0.1
    qvel_reset_noise: ClassVar[ResetNoise] = "normal"
    obs_dim: ClassVar[int] = 27
    ctrl_cost_weight: ClassVar[float] = 0.5
    uses_contact_forces: ClassVar[bool] = True
    # From above and behind: the ant walks in the plane.
    render_camera: ClassVar[dict[str, float]] = {
        "trackbodyid": 1,
        "distance": 5.0,
        "elevation": -35.0,
        "azimuth": 90.0,
    }

    def _position(self) -> np.ndarray:
        return self.data.qpos[:2].copy()

    def _get_obs(self) -> np.ndarray:
        return np.concatenate((self.data.qpos[2:], self.data.qvel))

    def _reward_terms(self, velocity: np.ndarray, action: np.ndarray) -> dict[str, float]:
        return {
            "forward": self._forward_reward(velocity),
            "survive": 1.0,
            "ctrl": -self._ctrl_cost(action),
            "contact": -self._contact_cost(5e-4, force_limit=1.0),
        }

    def _forward_reward(self, xy_velocity: np.ndarray) -> float:
        raise NotImplementedError

    def _terminated(self) -> bool:
        z = self.data.qpos[2]
        healthy = np.isfinite(self.state_vector()).all() and HEALTHY_Z[0] <= z <= HEALTHY_Z[1]
        return not healthy

    @staticmethod
    def termination_fn(
        obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor
    ) -> torch.Tensor:
        """Not finite, or torso height ``next_obs[..., 0]`` outside [0.2, 1.0]."""
        del obs, act
        z = next_obs[..., 0]
        healthy = torch.isfinite(next_obs).all(dim=-1) & (z >= HEALTHY_Z[0]) & (z <= HEALTHY_Z[1])
        return ~healthy


class _AntHeadingEnv(_AntEnv):
    """Forward term v_xy·(cos θ, sin θ); reward-only."""

    task_parameter_name: ClassVar[str | None] = "direction angle (°)"

    reward_only: ClassVar[bool] = True
    task_type: ClassVar[type] = HeadingTask

    def _apply_task(self, task: HeadingTask) -> None:
        self._direction = np.array(task.direction)

    def _forward_reward(self, xy_velocity: np.ndarray) -> float:
        return float(xy_velocity @ self._direction)


class AntDirEnv(_AntHeadingEnv):
    """ant-dir (benchmark): θ ∈ {0, π}, 2 train tasks and no test tasks."""

    in_distribution: ClassVar[bool] = True  # a benchmark: the paper's Figure 2
    family: ClassVar[str] = "ant-dir"
    env_id: ClassVar[str] = "mier_pl/AntDir-v0"

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        return [HeadingTask(0.0), HeadingTask(math.pi)], []


class AntDirOODEnv(_AntHeadingEnv):
    """ant-dir (OOD): 100 train θ ~ U[0, 1.5π); 10 test θ = linspace(1.5π, 2π, 10); seed 42."""

    family: ClassVar[str] = "ant-dir-ood"
    env_id: ClassVar[str] = "mier_pl/AntDirOOD-v0"
    default_family_seed: ClassVar[int] = 42

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [HeadingTask(float(a)) for a in rng.uniform(0.0, 1.5 * math.pi, size=100)]
        test = [HeadingTask(float(a)) for a in np.linspace(1.5 * math.pi, 2 * math.pi, 10)]
        return train, test


class AntNegatedJointsEnv(_AntEnv):
    """ant-negated-joints (OOD): 4 of the 8 actuators receive −a; forward term v_x.

    Train: negate 4 of actuators 0-6, C(7, 4) = 35 tasks. Test: the first 15 of C(7, 3) over
    0-6, each with actuator 7 added, so 15 tasks of 4 negated actuators. Both in
    ``itertools.combinations`` order. The control cost charges the policy's action.
    """

    family: ClassVar[str] = "ant-negated-joints"
    env_id: ClassVar[str] = "mier_pl/AntNegatedJoints-v0"
    reward_only: ClassVar[bool] = False
    task_type: ClassVar[type] = NegatedJointsTask

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [NegatedJointsTask(c) for c in itertools.combinations(range(7), 4)]
        firsts = itertools.islice(itertools.combinations(range(7), 3), 15)
        test = [NegatedJointsTask((*c, 7)) for c in firsts]
        return train, test

    def _apply_task(self, task: NegatedJointsTask) -> None:
        self._negate_joints(task.joints)

    def _forward_reward(self, xy_velocity: np.ndarray) -> float:
        return float(xy_velocity[0])
