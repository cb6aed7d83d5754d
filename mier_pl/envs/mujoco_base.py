"""Shared base of the MuJoCo task families (docs/algorithm.md §7).

Each family is a Gymnasium v5 MuJoCo model (its XML asset, frame skip and reset noise) behind
the :class:`~mier_pl.envs.meta_env.MetaEnv` contract. Everything the families share lives here, in
one place:

- stepping: the policy's action in [-1, 1] goes through the task's joint negation and a
  linear map onto the actuators' ``ctrlrange``, then ``do_simulation`` with the v5 frame skip;
- the velocity: (position after − position before) / dt of a family-chosen position;
- the reward as a sum of named terms (``info["reward_<name>"]`` reports each);
- the control and contact costs;
- reset noise exactly as the Gymnasium v5 env of the same model.

A family module subclasses :class:`MujocoMetaEnv` once for the robot (observation, reward
terms, termination) and once per family (task list and the task-dependent part of the reward).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from mier_pl.envs.meta_env import MetaEnv, TaskT

ResetNoise = Literal["uniform", "normal"]


@dataclass(frozen=True)
class HeadingTask:
    """Move along the horizontal direction at ``angle`` radians (0 = +x, π/2 = +y)."""

    angle: float

    @property
    def direction(self) -> tuple[float, float]:
        return (float(np.cos(self.angle)), float(np.sin(self.angle)))


@dataclass(frozen=True)
class NegatedJointsTask:
    """The actuators at these 0-based indices receive the negated action component."""

    joints: tuple[int, ...]


@contextlib.contextmanager
def quiet_settotalmass() -> Iterator[None]:
    """Load models without MuJoCo's deprecation notice for ``compiler/settotalmass``.

    half_cheetah.xml sets that attribute; MuJoCo still applies it but prints a warning and
    appends it to ./MUJOCO_LOG.TXT on every load. Inside this block that one message is
    dropped and any other MuJoCo warning is passed on to Python's ``warnings``.
    """
    messages: list[str] = []
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(messages.append)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)
        for message in messages:
            if "settotalmass" not in message:
                warnings.warn(f"MuJoCo: {message}", stacklevel=3)


class MujocoMetaEnv(MujocoEnv, MetaEnv[TaskT]):
    """A Gymnasium v5 MuJoCo model driven as a task family.

    Class variables a robot sets:
        xml_file: Gymnasium asset name (``"half_cheetah.xml"``).
        sim_frame_skip: physics steps per env step, as in the v5 env.
        reset_noise_scale: as in the v5 env.
        qvel_reset_noise: ``"normal"`` (cheetah, ant: ``scale·N(0, 1)``) or ``"uniform"``
            (walker, humanoid: ``U(−scale, scale)``), as in the v5 env; qpos noise is always
            uniform.
        obs_dim: observation size.
        ctrl_cost_weight: weight ``w`` of the control cost ``w·‖u‖²``.
        uses_contact_forces: whether reward or observation reads ``data.cfrc_ext``; only
            then is ``mj_rnePostConstraint`` run (MuJoCo ≥ 2 computes contact forces only
            on request, docs/algorithm.md §7), which keeps cheetah and walker stepping cheap.
        render_camera: the evaluation videos' camera (``mier_pl/data/video.py``), a MuJoCo
            tracking camera on body ``trackbodyid``: Gymnasium v5's distance and elevation
            for the 2-D robots; v5's cheetah and ant cameras do not track, these do.
    """

    xml_file: ClassVar[str]
    sim_frame_skip: ClassVar[int]
    reset_noise_scale: ClassVar[float]
    qvel_reset_noise: ClassVar[ResetNoise]
    obs_dim: ClassVar[int]
    ctrl_cost_weight: ClassVar[float]
    uses_contact_forces: ClassVar[bool] = False
    render_camera: ClassVar[dict[str, float]] = {
        "trackbodyid": 1,
        "distance": 4.0,
        "elevation": -20.0,
        "azimuth": 90.0,
    }
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"]
    }

    def __init__(self, family_seed: int | None = None, render_mode: str | None = None) -> None:
        observation_space = spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float64)
        MujocoEnv.__init__(
            self, self.xml_file, self.sim_frame_skip, observation_space, render_mode=render_mode
        )
        # As the v5 envs do: MujocoEnv checks render_fps against dt, so it is set afterwards.
        self.metadata = {**type(self).metadata, "render_fps": round(1.0 / self.dt)}
        nu = self.model.nu
        # The policy always acts in [-1, 1]; the actuator ranges differ (humanoid: ±0.4).
        self.action_space = spaces.Box(-1.0, 1.0, shape=(nu,), dtype=np.float32)
        low, high = self.model.actuator_ctrlrange.T.copy()
        self._ctrl_center = (high + low) / 2.0
        self._ctrl_half_range = (high - low) / 2.0
        # What _ctrl multiplies an action by: the half range, negated on a task's negated joints.
        self._ctrl_scale = self._ctrl_half_range.copy()
        self._dt = self.dt  # Gymnasium's property recomputes it on every read
        self._init_model()
        self._init_tasks(family_seed)
        self.set_task(self.train_tasks[0])

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        with quiet_settotalmass():
            return super()._initialize_simulation()

    def _init_model(self) -> None:
        """Robot hook run once the model is loaded and before the first task is applied."""

    # ------------------------------------------------------------- stepping
    def step(self, action: Any):
        action = self._check_action(action)
        before = self._position()
        # Gymnasium's do_simulation only re-checks the control's shape, which _check_action
        # has already checked: stepping directly saves that on every step.
        self._step_mujoco_simulation(self._ctrl(action), self.frame_skip)
        velocity = (self._position() - before) / self._dt
        obs = self._get_obs()
        info = {"x_velocity": float(velocity[0])}
        reward = 0.0  # the terms' sum, in their order
        for name, value in self._reward_terms(velocity, action).items():
            info["reward_" + name] = float(value)
            reward += value
        reward = float(reward)
        if self.render_mode == "human":
            self.render()
        # Never truncates: the TimeLimit wrapper added at registration does.
        return obs, reward, self._terminated(), False, info

    def _ctrl(self, action: np.ndarray) -> np.ndarray:
        """Actuator controls of a policy action: negate the task's joints, map onto ctrlrange."""
        return self._ctrl_center + self._ctrl_scale * action

    def _step_mujoco_simulation(self, ctrl: np.ndarray, n_frames: int) -> None:
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=n_frames)
        if self.uses_contact_forces:
            mujoco.mj_rnePostConstraint(self.model, self.data)

    def reset_model(self) -> np.ndarray:
        scale = self.reset_noise_scale
        qpos = self.init_qpos + self.np_random.uniform(-scale, scale, size=self.model.nq)
        if self.qvel_reset_noise == "normal":
            qvel = self.init_qvel + scale * self.np_random.standard_normal(self.model.nv)
        else:
            qvel = self.init_qvel + self.np_random.uniform(-scale, scale, size=self.model.nv)
        self.set_state(qpos, qvel)
        if self.uses_contact_forces:
            # Gymnasium leaves cfrc_ext at zero after reset; computing it keeps the first
            # observation a function of the state like every later one.
            mujoco.mj_rnePostConstraint(self.model, self.data)
        return self._get_obs()

    # --------------------------------------------------------- robot hooks
    def _position(self) -> np.ndarray:
        """Position whose finite difference is the velocity; default the x coordinate qpos[0]."""
        return self.data.qpos[:1].copy()

    def _get_obs(self) -> np.ndarray:
        raise NotImplementedError

    def _reward_terms(self, velocity: np.ndarray, action: np.ndarray) -> dict[str, float]:
        """Named reward terms (costs negative); the reward is their sum."""
        raise NotImplementedError

    def _terminated(self) -> bool:
        return False

    # ---------------------------------------------------------------- costs
    def _ctrl_cost(self, control: np.ndarray) -> float:
        """``ctrl_cost_weight · ‖control‖²``; ``control`` is the policy's action except for the
        humanoid, which charges the actuator controls as Gymnasium does."""
        return self.ctrl_cost_weight * float(np.dot(control, control))

    def _contact_cost(
        self, weight: float, force_limit: float = np.inf, max_cost: float = np.inf
    ) -> float:
        """``min(weight · Σ clip(cfrc_ext, ±force_limit)², max_cost)`` over all bodies."""
        forces = np.clip(self.data.cfrc_ext, -force_limit, force_limit)
        return min(weight * float(np.sum(np.square(forces))), max_cost)

    # ---------------------------------------------------------------- tasks
    def _negate_joints(self, joints: tuple[int, ...]) -> None:
        nu = self.model.nu
        if not all(0 <= j < nu for j in joints):
            raise ValueError(
                f"{self.family}: negated joints {joints} must be actuator indices 0..{nu - 1}"
            )
        sign = np.ones(nu)
        sign[list(joints)] = -1.0
        self._ctrl_scale = self._ctrl_half_range * sign

    def encode_task(self, task: Any) -> np.ndarray:
        """Heading tasks: (cos, sin) of the angle; negated joints: 1 per negated actuator."""
        if isinstance(task, HeadingTask):
            return np.array(task.direction, np.float32)
        if isinstance(task, NegatedJointsTask):
            mask = np.zeros(self.model.nu, np.float32)
            mask[list(task.joints)] = 1.0
            return mask
        return super().encode_task(task)
