"""``ReplayDataModule``: the family's envs, the per-task replay, and meta-batches from it."""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from jsonargparse.typing import register_type

from mier_pl.data.batch import MetaBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.checkpoint_io import (
    CheckpointError,
    atomic_save,
    previous_path,
    read_checkpoint,
)
from mier_pl.data.rng import device_rng_state, restore_device_rng_state
from mier_pl.data.rollout import Collector
from mier_pl.envs import FamilyName, make_env
from mier_pl.ranges import NonNegativeInt, PositiveInt, plain

# --data.family: a built-in name or "module:Class", resolved (imported, checked) while parsing.
register_type(FamilyName, serializer=str, deserializer=lambda value: str(FamilyName(value)))


class MetaBatchLoader:
    """In-memory iterable of ``steps`` meta-batches per epoch (no workers, no host round trip).

    Each epoch draws ``meta_batch_size`` train tasks once and reuses them for every step of that
    epoch (docs/algorithm.md §3, release); each step samples ``batch_size`` support transitions per task from
    the pre-adapt buffers and as many query ones from the full ones. The tasks are distinct when
    the family has at least ``meta_batch_size`` of them (as the release's ``np.random.choice(...,
    replace=False)``): drawn with replacement, cheetah-negated-joints saw 6.6 of its 10 tasks per
    epoch. Only a family with fewer tasks than the meta-batch repeats some.
    """

    def __init__(
        self,
        buffer: MultiTaskReplay,
        meta_batch_size: int,
        batch_size: int,
        steps: int,
        support_window: int = 0,
        context_steps: int = 0,
        horizon: int = 1,
        sample: bool = True,
    ):
        self.buffer, self.meta_batch_size = buffer, meta_batch_size
        self.batch_size, self.steps = batch_size, steps
        self.support_window = support_window
        self.context_steps, self.horizon = context_steps, horizon
        self.sample = sample  # False: yield the epoch's task ids only (PEARL draws its own)

    def _support(self, task_ids: torch.Tensor):
        if self.support_window:
            return self.buffer.sample_windows(task_ids, self.batch_size, self.support_window)
        return self.buffer.sample(task_ids, self.batch_size, pre_adapt=True)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[MetaBatch | torch.Tensor]:
        task_ids = draw_tasks(self.buffer.num_tasks, self.meta_batch_size)
        self.buffer.check_nonempty(task_ids.tolist(), pre_adapt=True)
        task_ids_dev = task_ids.to(self.buffer.device)
        if not self.sample:
            for _ in range(self.steps):
                yield task_ids_dev
            return
        for _ in range(self.steps):
            yield MetaBatch(
                task_ids=task_ids_dev,
                support=self._support(task_ids_dev),
                query=self.buffer.sample(task_ids_dev, self.batch_size),
                context_support=self.buffer.sample_windows(
                    task_ids_dev, self.context_steps, self.horizon
                )
                if self.context_steps
                else None,
            )


def draw_tasks(num_tasks: int, count: int) -> torch.Tensor:
    """``count`` task ids from ``range(num_tasks)``: distinct when there are enough tasks."""
    if num_tasks >= count:
        return torch.randperm(num_tasks)[:count]
    return torch.randint(num_tasks, (count,))


class ReplayDataModule(pl.LightningDataModule):
    """Envs and per-task replay for one task family.

    Args:
        family: the task family (docs/algorithm.md §7): a built-in name, or the import path of your own
            MetaEnv subclass, ``"package.module:ClassName"`` (docs/custom_family.md).
        family_seed: seed of the family's task lists; ``None`` uses the release's seed.
        capacity: transitions kept per train task (release: 1e6); storage grows as used.
        meta_batch_size: train tasks per meta-batch (10).
        batch_size: transitions per task for the support and for the query batch (A).
        steps_per_epoch: training steps per epoch (1000).
        support: how each task's support batch is drawn from its pre-adapt buffer. "iid"
            (release): ``batch_size`` transitions uniformly from all of it. "episodes" (ours,
            an option): ``batch_size`` consecutive ones from an episode start, the kind of
            data φ is adapted on when the policy acts (docs/learning.md has the ablation).
        horizon: episode length; ``None`` is the family's (30 point, 200 MuJoCo, 500
            Meta-World). Collection, evaluation and ``adapt`` all cut episodes there.
        sac_context_steps: what SAC's training contexts are adapted on. 0 (release): the
            φ_T of the model's own support batch. N > 0 (ours, an option): a separate window
            of N consecutive pre-adapt transitions per task from an episode start, adapted
            first order with the current model: the same kind and amount of data as the
            acting context's with ``eval.adapt_steps`` N, so SAC trains on contexts as noisy
            as those it acts with (docs/learning.md has the ablation).
    """

    def __init__(
        self,
        family: FamilyName = "point-goal",
        family_seed: int | None = None,
        capacity: PositiveInt = 1_000_000,
        meta_batch_size: PositiveInt = 10,
        batch_size: PositiveInt = 200,
        steps_per_epoch: PositiveInt = 1000,
        support: Literal["iid", "episodes"] = "iid",
        horizon: PositiveInt | None = None,
        sac_context_steps: NonNegativeInt = 0,
    ) -> None:
        super().__init__()
        self.support = support
        self.sac_context_steps = plain(sac_context_steps)
        # plain(): builtin ints, not jsonargparse's PositiveInt, reach the replay's state_dict.
        self.family, self.family_seed, self.capacity = str(family), family_seed, plain(capacity)
        self.meta_batch_size, self.batch_size = plain(meta_batch_size), plain(batch_size)
        self.steps_per_epoch = plain(steps_per_epoch)
        self.rank, self.world_size = 0, 1
        probe = make_env(family, family_seed)  # raises with the valid names if unknown
        self.obs_dim: int = probe.observation_space.shape[0]
        self.act_dim: int = probe.action_space.shape[0]
        self.num_train_tasks: int = len(probe.train_tasks)
        self.num_test_tasks: int = len(probe.test_tasks)
        self.reward_only: bool = probe.reward_only
        self.task_encoding_dim: int = probe.task_encoding_dim
        self.horizon: int = plain(horizon) if horizon is not None else probe.max_episode_steps
        self.termination_fn = probe.termination_fn
        self.buffer: MultiTaskReplay | None = None
        self.collector: Collector | None = None
        # False when the module draws its own data each step (PEARL): the loader then samples
        # nothing and yields the epoch's task ids.
        self.meta_batches = True
        self._pending_state: dict[str, Any] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.buffer is not None:
            return
        if self.trainer is None:
            self.build("cpu")
            return
        trainer = self.trainer
        self.build(trainer.strategy.root_device, trainer.global_rank, trainer.world_size)

    def build(self, device: torch.device | str, rank: int = 0, world_size: int = 1) -> None:
        """Create envs and buffers on ``device`` (``setup`` does this inside a Trainer).

        Under DDP every rank owns its envs and replay; their seeds are the run seed plus
        1000 × rank, so ranks collect different data from the same initial networks.
        """
        self.rank, self.world_size = rank, world_size
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0)) + 1000 * rank
        if world_size > 1:
            # Same init everywhere (DDP broadcasts it anyway), different exploration per rank.
            pl.seed_everything(seed, verbose=False)
        self.buffer = MultiTaskReplay(
            self.num_train_tasks, self.obs_dim, self.act_dim, self.capacity, device
        )
        self.collector = Collector(self.family, self.family_seed, seed, device, self.horizon)
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)
            self._pending_state = None

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int):
        """A meta-batch moves itself (``MetaBatch.to``: nothing to do on the CPU); Lightning's
        default would first walk its fields looking for tensors, on every step."""
        if isinstance(batch, MetaBatch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def train_dataloader(self) -> MetaBatchLoader:
        assert self.buffer is not None, "ReplayDataModule.setup() has not run"
        window = self.horizon if self.support == "episodes" else 0
        return MetaBatchLoader(
            self.buffer,
            self.meta_batch_size,
            self.batch_size,
            self.steps_per_epoch,
            window,
            self.sac_context_steps,
            self.horizon,
            sample=self.meta_batches,
        )

    # ----------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Replay, env generators and global RNG states: everything a resume needs.

        Under DDP, Lightning writes the checkpoint from rank 0 only, but calls this on every
        rank: ranks > 0 write their own replay beside it (``replay_rank<k>.pt``, atomically,
        keeping the one it replaces as ``replay_rank<k>.prev.pt`` for the previous
        ``last.ckpt``), and the checkpoint records how many ranks there were. A rank that
        cannot write its shard (a full disk) stops every rank before rank 0 replaces
        ``last.ckpt``, so the previous checkpoint and its shards stay a matching set.
        """
        if self.buffer is None or self.collector is None:
            return {}
        state = self._local_state()
        if self.world_size > 1:
            step = int(self.trainer.global_step) if self.trainer is not None else 0
            shard_dir = self._checkpoint_dir().resolve()
            # Every save (last.ckpt, or Lightning's SLURM hpc checkpoint on SIGUSR1) records
            # where the shards are, so any checkpoint of the run finds them.
            state.update(world_size=self.world_size, global_step=step, shard_dir=str(shard_dir))
            failure: CheckpointError | None = None
            if self.rank > 0:
                try:
                    atomic_save(state, self._shard_path(shard_dir), keep_previous=True)
                except CheckpointError as err:
                    failure = err
            strategy = self.trainer.strategy if self.trainer is not None else None
            if strategy is not None and not strategy.reduce_boolean_decision(failure is None):
                raise failure or CheckpointError(
                    errno.ENOSPC,
                    f"another rank could not write its replay shard in {shard_dir} (its error "
                    "says why); last.ckpt was not replaced, and the previous one and its shards "
                    "are intact",
                )
        return state

    def _local_state(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        return {
            "family": self.family,
            "replay": self.buffer.state_dict(),
            "collector": self.collector.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                # replay sampling on a GPU draws from this rank's CUDA generator
                "cuda": device_rng_state(self.buffer.device),
                "numpy": [
                    np_state[0],
                    torch.from_numpy(np_state[1].astype(np.int64)),
                    *np_state[2:],
                ],
                "python": _python_state_to_plain(random.getstate()),
            },
        }

    def _checkpoint_dir(self) -> Path:
        callback = self.trainer.checkpoint_callback if self.trainer is not None else None
        if callback is None or callback.dirpath is None:
            raise RuntimeError("DDP replay shards need a checkpoint callback with a dirpath")
        return Path(callback.dirpath)

    def _shard_path(self, directory: Path) -> Path:
        return directory / f"replay_rank{self.rank}.pt"

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
        saved_world = int(state.get("world_size", 1))
        # Fewer ranks would drop the other ranks' replay (and their env steps) without a word.
        if saved_world != self.world_size:
            raise ValueError(
                f"the checkpoint holds the replay of {saved_world} rank(s) but this run has "
                f"{self.world_size}; resume with the same --trainer.devices × --trainer.num_nodes "
                f"({saved_world}), or from a single-device checkpoint"
            )
        if self.rank > 0 and saved_world > 1:
            ckpt_path = self.trainer.ckpt_path if self.trainer is not None else None
            dirs = [Path(state["shard_dir"])]
            if ckpt_path:  # a run directory that was moved keeps its shards beside last.ckpt
                dirs.append(Path(ckpt_path).parent)
            candidates = [
                p for d in dirs for p in (self._shard_path(d), previous_path(self._shard_path(d)))
            ]
            found = {c: read_checkpoint(c, mmap=True) for c in candidates if c.is_file()}
            if not found:
                raise FileNotFoundError(
                    f"rank {self.rank}'s replay shard is missing (looked for "
                    f"{', '.join(map(str, candidates))}); keep the replay_rank<k>.pt files "
                    "beside the checkpoint when moving it"
                )
            # The shard of this checkpoint's step (the .prev one when a later save stopped);
            # mmap above reads only the step, the chosen shard is then read in full.
            shard = next(
                (c for c, s in found.items() if s.get("global_step") == state.get("global_step")),
                None,
            )
            if shard is None:
                steps = ", ".join(f"{c} (step {s.get('global_step')})" for c, s in found.items())
                raise ValueError(
                    f"no replay shard of rank {self.rank} is from the checkpoint's step "
                    f"{state.get('global_step')} (found {steps}); the save was interrupted"
                )
            state = read_checkpoint(shard)
        self.buffer.load_state_dict(state["replay"])
        self.collector.load_state_dict(state["collector"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        restore_device_rng_state(rng.get("cuda"), self.buffer.device)
        name, keys, *rest = rng["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        random.setstate(_plain_to_python_state(rng["python"]))


def _python_state_to_plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _plain_to_python_state(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
