"""``ReplayDataModule``: the family's envs, the per-task replay, and meta-batches from it."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from mier_pl.data.batch import MetaBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.envs import FamilyName, make_env


class MetaBatchLoader:
    """In-memory iterable of ``steps`` meta-batches per epoch (no workers, no host round trip).

    Each epoch draws ``meta_batch_size`` train tasks once, with replacement, and reuses them for
    every step of that epoch (spec §3, release); each step samples ``batch_size`` support
    transitions per task from the pre-adapt buffers and as many query ones from the full ones.
    """

    def __init__(self, buffer: MultiTaskReplay, meta_batch_size: int, batch_size: int, steps: int):
        self.buffer, self.meta_batch_size = buffer, meta_batch_size
        self.batch_size, self.steps = batch_size, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[MetaBatch]:
        task_ids = torch.randint(self.buffer.num_tasks, (self.meta_batch_size,))
        self.buffer.check_nonempty(task_ids.tolist(), pre_adapt=True)
        task_ids_dev = task_ids.to(self.buffer.device)
        for _ in range(self.steps):
            yield MetaBatch(
                task_ids=task_ids_dev,
                support=self.buffer.sample(task_ids_dev, self.batch_size, pre_adapt=True),
                query=self.buffer.sample(task_ids_dev, self.batch_size),
            )


def _rank_seed() -> int:
    """The run seed (``--seed_everything``) offset by the global rank, so DDP ranks explore apart."""
    seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))
    return seed + 1000 * rank


class ReplayDataModule(pl.LightningDataModule):
    """Envs and per-task replay for one task family.

    Args:
        family: the task family (spec §7).
        family_seed: seed of the family's task lists; ``None`` uses the release's seed.
        capacity: transitions kept per train task (release: 1e6); storage grows as used.
        meta_batch_size: train tasks per meta-batch (10).
        batch_size: transitions per task for the support and for the query batch (A).
        steps_per_epoch: training steps per epoch (1000).
    """

    def __init__(
        self,
        family: FamilyName = "point-goal",
        family_seed: int | None = None,
        capacity: int = 1_000_000,
        meta_batch_size: int = 10,
        batch_size: int = 200,
        steps_per_epoch: int = 1000,
    ) -> None:
        super().__init__()
        self.family, self.family_seed, self.capacity = family, family_seed, capacity
        self.meta_batch_size, self.batch_size = meta_batch_size, batch_size
        self.steps_per_epoch = steps_per_epoch
        probe = make_env(family, family_seed)  # raises with the valid names if unknown
        self.obs_dim: int = probe.observation_space.shape[0]
        self.act_dim: int = probe.action_space.shape[0]
        self.num_train_tasks: int = len(probe.train_tasks)
        self.num_test_tasks: int = len(probe.test_tasks)
        self.reward_only: bool = probe.reward_only
        self.horizon: int = probe.max_episode_steps
        self.termination_fn = probe.termination_fn
        self.buffer: MultiTaskReplay | None = None
        self.collector: Collector | None = None
        self._pending_state: dict[str, Any] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.buffer is not None:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.build(device)

    def build(self, device: torch.device | str) -> None:
        """Create envs and buffers on ``device`` (``setup`` does this inside a Trainer)."""
        world = int(os.environ.get("WORLD_SIZE", 1))
        seed = _rank_seed()
        if world > 1:
            # Same init everywhere (DDP broadcasts it anyway), different exploration per rank.
            pl.seed_everything(seed, verbose=False)
        self.buffer = MultiTaskReplay(
            self.num_train_tasks, self.obs_dim, self.act_dim, self.capacity, device
        )
        self.collector = Collector(self.family, self.family_seed, seed, device)
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)
            self._pending_state = None

    def train_dataloader(self) -> MetaBatchLoader:
        assert self.buffer is not None, "ReplayDataModule.setup() has not run"
        return MetaBatchLoader(self.buffer, self.meta_batch_size, self.batch_size, self.steps_per_epoch)

    # ----------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Replay, env generators and global RNG states: everything a resume needs."""
        if self.buffer is None or self.collector is None:
            return {}
        np_state = np.random.get_state()
        return {
            "family": self.family,
            "replay": self.buffer.state_dict(),
            "collector": self.collector.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                # replay sampling on a GPU draws from the CUDA generators
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
                "python": _python_state_to_plain(random.getstate()),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if state.get("family") != self.family:
            raise ValueError(
                f"checkpoint replay is from family {state.get('family')!r} but this run's family "
                f"is {self.family!r}; use a checkpoint of a {self.family} run"
            )
        if self.buffer is None or self.collector is None:
            self._pending_state = state  # restored in setup(), once the device is known
            return
        self.buffer.load_state_dict(state["replay"])
        self.collector.load_state_dict(state["collector"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        name, keys, *rest = rng["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        random.setstate(_plain_to_python_state(rng["python"]))


def _python_state_to_plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _plain_to_python_state(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
