"""hopper-vel: Gymnasium v5's Hopper runs at a hidden target velocity (a worked example).

A task family of your own is a MetaEnv subclass in your own package; nothing in mier_pl is
edited. Name it by import path, check it, train on it (docs/custom_family.md walks through it):

    python -m mier_pl check_family examples.hopper_vel:HopperVelEnv
    python -m mier_pl fit --config examples/hopper_vel.yaml
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mier_pl.envs.mujoco_base import MujocoMetaEnv, ResetNoise


@dataclass(frozen=True)  # frozen: tasks are hashable and compared by value
class HopperVelTask:
    """Hop forward at ``velocity`` m/s."""

    velocity: float


class HopperVelEnv(MujocoMetaEnv):
    """Reward −|v_x − v*| + 1 − 1e-3‖a‖²; train targets U[0, 1.5] m/s, OOD test U[1.5, 2]."""

    family: ClassVar[str] = "hopper-vel"  # the name in logs, checkpoints and plots
    env_id: ClassVar[str] = "examples/HopperVel-v0"  # gymnasium.make(env_id) after resolving
    reward_only: ClassVar[bool] = True  # the target moves the reward, never the physics
    task_type: ClassVar[type] = HopperVelTask
    task_parameter_name: ClassVar[str | None] = "target velocity (m/s)"
    default_family_seed: ClassVar[int] = 0
    # The robot, as Gymnasium's Hopper-v5: model, frame skip (dt = 0.008 s), reset noise.
    xml_file: ClassVar[str] = "hopper.xml"
    sim_frame_skip: ClassVar[int] = 4
    reset_noise_scale: ClassVar[float] = 5e-3
    qvel_reset_noise: ClassVar[ResetNoise] = "uniform"
    obs_dim: ClassVar[int] = 11
    ctrl_cost_weight: ClassVar[float] = 1e-3

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        train = [HopperVelTask(float(v)) for v in rng.uniform(0.0, 1.5, size=30)]
        test = [HopperVelTask(float(v)) for v in rng.uniform(1.5, 2.0, size=10)]
        return train, test

    def encode_task(self, task: HopperVelTask) -> np.ndarray:
        """The target velocity (m/s): what the oracle-context baseline is told."""
        return np.array([task.velocity], np.float32)

    def _get_obs(self) -> np.ndarray:  # height, angles (5), clipped velocities (6)
        return np.concatenate((self.data.qpos[1:], np.clip(self.data.qvel, -10.0, 10.0)))

    def _reward_terms(self, velocity: np.ndarray, action: np.ndarray) -> dict[str, float]:
        forward = -abs(float(velocity[0]) - self.task.velocity)
        return {"forward": forward, "healthy": 1.0, "ctrl": -self._ctrl_cost(action)}

    def _terminated(self) -> bool:
        obs = torch.as_tensor(self._get_obs())[None]
        return bool(self.termination_fn(obs, obs, obs)[0])

    @staticmethod
    def termination_fn(obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor):
        """Fallen: height ≤ 0.7, |torso angle| ≥ 0.2 or any |obs[1:]| ≥ 100 (Hopper-v5's rule
        read off the observation, so relabeled rollouts end where real ones do)."""
        height, angle = next_obs[..., 0], next_obs[..., 1]
        healthy = (height > 0.7) & (angle.abs() < 0.2) & (next_obs[..., 1:].abs() < 100).all(-1)
        return ~healthy
