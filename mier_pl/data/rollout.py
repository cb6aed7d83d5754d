"""Collection: one env per concurrent task, stepped in lockstep with one batched policy call.

The collector owns a pool of envs of one family. A rollout assigns one task to each of the
first ``len(tasks)`` envs (switching task in place), resets them, and steps them together:
every step makes a single policy forward for all of them (docs/algorithm.md §4: "5 tasks in lockstep").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch
from mier_pl.envs import MetaEnv, make_env
from mier_pl.fast.precision import float32_matmul_precision

ActFn = Callable[[Tensor], Tensor]
"""Maps observations ``[B, obs_dim]`` (float32, on the CPU) to actions ``[B, act_dim]``.

The policy moves the observations to the device it computes on: one host→device copy per
lockstep step for a policy on a GPU, none for one acting on a CPU copy of the actor.
"""


class Recorder(Protocol):
    """Watches one evaluation episode (:class:`mier_pl.data.video.EpisodeRecorder`)."""

    def start(self, env: MetaEnv) -> None: ...

    def step(self, env: MetaEnv, reward: float) -> None: ...


@dataclass
class RolloutResult:
    """``batch`` ``[B, steps]`` on the device, and the returns of the episodes that ended."""

    batch: TransitionBatch
    episode_returns: list[float]


class Collector:
    """A pool of envs of one family for lockstep collection and evaluation.

    Args:
        family: task family name.
        family_seed: seed of the family's task lists (``None``: the family's default).
        seed: seed of env ``i``'s reset generator is ``seed + i``.
        device: where batches are returned (the replay's device).
        horizon: episode length (``None``: the family's ``max_episode_steps``).

    Attributes:
        last_success: after :meth:`run_episodes`, whether each episode succeeded (its
            ``info["success"]`` was ever true) as a bool array; ``None`` for families that
            report no success (``MetaEnv.reports_success``).
    """

    def __init__(
        self,
        family: str,
        family_seed: int | None,
        seed: int,
        device: torch.device | str = "cpu",
        horizon: int | None = None,
    ) -> None:
        self.family, self.family_seed, self.seed = family, family_seed, seed
        self.device = torch.device(device)
        if horizon is not None and horizon < 1:
            raise ValueError(f"horizon must be a positive number of steps, got {horizon}")
        self._horizon = horizon
        self.envs: list[MetaEnv] = []
        self.env_steps = 0  # training samples: steps of counted rollouts
        self.last_success: np.ndarray | None = None
        self._grow(1)

    @property
    def horizon(self) -> int:
        return self.envs[0].max_episode_steps

    @property
    def reports_success(self) -> bool:
        return self.envs[0].reports_success

    @property
    def train_tasks(self) -> tuple:
        return self.envs[0].train_tasks

    @property
    def test_tasks(self) -> tuple:
        return self.envs[0].test_tasks

    def encode_tasks(self, tasks: Sequence[Any]) -> Tensor:
        """The family's task encodings ``[len(tasks), dim]`` on the device (oracle context)."""
        encoded = np.stack([self.envs[0].encode_task(task) for task in tasks])
        return torch.as_tensor(encoded, dtype=torch.float32, device=self.device)

    def _grow(self, n: int) -> None:
        while len(self.envs) < n:
            env = make_env(self.family, self.family_seed)
            if self._horizon is not None:
                env.max_episode_steps = self._horizon  # the env's own truncation agrees
            env.reset(seed=self.seed + len(self.envs))  # seeds the env's own generator once
            self.envs.append(env)

    def _obs_tensor(self, obs: np.ndarray) -> Tensor:
        return torch.as_tensor(obs, dtype=torch.float32)  # the policy moves it (see ActFn)

    @torch.no_grad()
    @float32_matmul_precision("highest")  # a few states per policy call: see mier_pl.fast.precision
    def rollout(
        self, tasks: Sequence[Any], num_steps: int, act_fn: ActFn, count: bool = True
    ) -> RolloutResult:
        """Collect ``num_steps`` transitions in each of ``tasks`` (fresh episodes, horizon cut).

        An episode ends when the env terminates or reaches the horizon; the env is then reset
        and collection goes on, so every task yields exactly ``num_steps`` transitions.
        ``count=False`` leaves :attr:`env_steps` (the training sample count) unchanged.
        """
        b = len(tasks)
        self._grow(b)
        envs = self.envs[:b]
        for env, task in zip(envs, tasks):
            env.set_task(task)
        obs_dim = envs[0].observation_space.shape[0]
        act_dim = envs[0].action_space.shape[0]
        obs_buf = np.empty((b, num_steps, obs_dim), np.float32)
        next_buf = np.empty((b, num_steps, obs_dim), np.float32)
        act_buf = np.empty((b, num_steps, act_dim), np.float32)
        rew_buf = np.empty((b, num_steps), np.float32)
        term_buf = np.zeros((b, num_steps), bool)
        trunc_buf = np.zeros((b, num_steps), bool)
        # float32 rows, as stored: the policy gets them without a conversion
        obs = np.stack([env.reset()[0] for env in envs]).astype(np.float32)
        ep_len = [0] * b  # Python numbers: a NumPy scalar update costs more than the step's
        ep_ret = [0.0] * b  # bookkeeping is worth (same float64 sums)
        rewards = [0.0] * b
        finished: list[float] = []
        horizon = self.horizon
        for t in range(num_steps):
            actions = act_fn(torch.from_numpy(obs)).cpu().numpy()
            obs_buf[:, t] = obs
            act_buf[:, t] = actions
            next_t = next_buf[:, t]
            reset: list[tuple[int, np.ndarray]] = []
            for i, env in enumerate(envs):
                next_obs, reward, terminated, _, _ = env.step(actions[i])
                next_t[i] = next_obs
                rewards[i] = reward
                ep_len[i] += 1
                ep_ret[i] += reward
                if terminated or ep_len[i] >= horizon:  # the flags stay False otherwise
                    term_buf[i, t] = terminated
                    trunc_buf[i, t] = not terminated
                    finished.append(float(ep_ret[i]))
                    reset.append((i, env.reset()[0]))
                    ep_len[i], ep_ret[i] = 0, 0.0
            rew_buf[:, t] = rewards
            obs = next_t.copy()  # a new array: the policy may keep the tensor it was given
            for i, first in reset:
                obs[i] = first
        if count:
            self.env_steps += b * num_steps
        batch = TransitionBatch(
            obs=torch.from_numpy(obs_buf),
            act=torch.from_numpy(act_buf),
            rew=torch.from_numpy(rew_buf),
            next_obs=torch.from_numpy(next_buf),
            terminated=torch.from_numpy(term_buf).float(),
            truncated=torch.from_numpy(trunc_buf).float(),
        ).to(self.device)
        return RolloutResult(batch, finished)

    @torch.no_grad()
    @float32_matmul_precision("highest")
    def run_episodes(
        self, tasks: Sequence[Any], act_fn: ActFn, record: Mapping[int, Recorder] | None = None
    ) -> np.ndarray:
        """One episode per task, up to the horizon; returns undiscounted returns ``[B]``.

        ``record`` maps task slots to recorders (:class:`mier_pl.data.video.EpisodeRecorder`)
        that watch that slot's episode; only those slots render, and the episodes are the
        same with or without them. Families that report success also leave the episodes'
        success flags in :attr:`last_success`.
        """
        b = len(tasks)
        self._grow(b)
        envs = self.envs[:b]
        for env, task in zip(envs, tasks):
            env.set_task(task)
        obs = np.stack([env.reset()[0] for env in envs])
        record = record or {}
        for i, recorder in record.items():
            recorder.start(envs[i])
        returns = np.zeros(b)
        success = np.zeros(b, bool)
        alive = np.ones(b, bool)
        for _ in range(self.horizon):
            actions = act_fn(self._obs_tensor(obs)).cpu().numpy()
            for i in np.flatnonzero(alive):
                next_obs, reward, terminated, _, info = envs[i].step(actions[i])
                returns[i] += reward
                success[i] |= bool(info.get("success", False))
                obs[i] = next_obs
                alive[i] = not terminated
                if record and i in record:
                    record[i].step(envs[i], reward)
            if not alive.any():
                break
        self.last_success = success if self.reports_success else None
        return returns

    # ----------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """The envs' reset generators and the step counter (plain data: ``weights_only`` safe)."""
        states = [json.dumps(env.np_random.bit_generator.state) for env in self.envs]
        return {"env_rng": states, "env_steps": self.env_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._grow(len(state["env_rng"]))
        for env, s in zip(self.envs, state["env_rng"]):
            env.np_random.bit_generator.state = json.loads(s)
        self.env_steps = int(state["env_steps"])
