"""humanoid-dir (docs/algorithm.md §7, benchmark): Gymnasium's humanoid running in a task direction.

Model: Gymnasium v5 ``humanoid.xml``, frame skip 5 (dt = 0.015 s), reset noise as
``Humanoid-v5``. The policy acts in [−1, 1]; the step maps that linearly onto the actuators'
ctrlrange ±0.4. Observation: Humanoid-v5's default (348) = ``qpos[2:]`` (22), ``qvel`` (23),
``cinert[1:]`` (130), ``cvel[1:]`` (78), ``qfrc_actuator[6:]`` (17), ``cfrc_ext[1:]`` (78); so
``obs[0]`` is the torso height.

Reward as Humanoid-v5 with the forward velocity replaced by the velocity of the centre of mass
along the task direction: 1.25·v_com·(cos θ, sin θ) + 5 − 0.1‖ctrl‖² − min(5e-7·Σ cfrc_ext², 10),
where ``ctrl`` is the actuator control (after the ±0.4 map, as v5 charges it). The survive
bonus is a constant 5 like the release's (v5 pays it only while healthy: the two differ on the
terminal step alone). Terminated: torso height ``qpos[2]`` not in (1, 2).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from mier_pl.envs.mujoco_base import HeadingTask, MujocoMetaEnv, ResetNoise

HEALTHY_Z = (1.0, 2.0)


class HumanoidDirEnv(MujocoMetaEnv):
    """humanoid-dir: 100 train and 30 test directions θ ~ U[0, 2π); seed 1337; reward-only."""

    task_parameter_name: ClassVar[str | None] = "direction angle (°)"

    in_distribution: ClassVar[bool] = True  # a benchmark: the paper's Figure 2
    family: ClassVar[str] = "humanoid-dir"
    env_id: ClassVar[str] = "mier_pl/HumanoidDir-v0"
    reward_only: ClassVar[bool] = True
    task_type: ClassVar[type] = HeadingTask

    xml_file: ClassVar[str] = "humanoid.xml"
    sim_frame_skip: ClassVar[int] = 5
    reset_noise_scale: ClassVar[float] = 1e-2
    qvel_reset_noise: ClassVar[ResetNoise] = "uniform"
    obs_dim: ClassVar[int] = 348
    ctrl_cost_weight: ClassVar[float] = 0.1
    uses_contact_forces: ClassVar[bool] = True

    @classmethod
    def make_tasks(cls, rng: np.random.Generator, seed: int):
        tasks = [HeadingTask(float(a)) for a in rng.uniform(0.0, 2 * math.pi, size=130)]
        return tasks[:100], tasks[100:]

    def _apply_task(self, task: HeadingTask) -> None:
        self._direction = np.array(task.direction)

    def _position(self) -> np.ndarray:
        """Horizontal centre of mass, as Humanoid-v5's ``mass_center``."""
        mass = self.model.body_mass
        return (mass @ self.data.xipos)[:2] / mass.sum()

    def _get_obs(self) -> np.ndarray:
        d = self.data
        return np.concatenate(
            (
                d.qpos[2:],
                d.qvel,
                d.cinert[1:].ravel(),
                d.cvel[1:].ravel(),
                d.qfrc_actuator[6:],
                d.cfrc_ext[1:].ravel(),
            )
        )

    def _reward_terms(self, velocity: np.ndarray, action: np.ndarray) -> dict[str, float]:
        return {
            "forward": 1.25 * float(velocity @ self._direction),
            "survive": 5.0,
            "ctrl": -self._ctrl_cost(self.data.ctrl),
            "contact": -self._contact_cost(5e-7, max_cost=10.0),
        }

    def _terminated(self) -> bool:
        return not HEALTHY_Z[0] < self.data.qpos[2] < HEALTHY_Z[1]

    @staticmethod
    def termination_fn(
        obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor
    ) -> torch.Tensor:
        """Torso height ``next_obs[..., 0]`` not in (1, 2)."""
        del obs, act
        z = next_obs[..., 0]
        return ~((z > HEALTHY_Z[0]) & (z < HEALTHY_Z[1]))
