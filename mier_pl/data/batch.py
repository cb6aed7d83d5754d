"""Typed transition batches with shapes asserted on creation (imports only torch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class TransitionBatch:
    """Transitions sharing leading dims ``L`` (``[N]``, or ``[tasks, N]`` for a meta-batch).

    Attributes:
        obs: ``[*L, obs_dim]`` float.
        act: ``[*L, act_dim]`` float, in [-1, 1].
        rew: ``[*L]`` float.
        next_obs: ``[*L, obs_dim]`` float.
        terminated: ``[*L]`` float 0/1: the MDP ended (no bootstrap).
        truncated: ``[*L]`` float 0/1: a time-limit cut. Kept apart from ``terminated``
            because SAC bootstraps through it (docs/algorithm.md §4).
    """

    obs: Tensor
    act: Tensor
    rew: Tensor
    next_obs: Tensor
    terminated: Tensor
    truncated: Tensor

    def __post_init__(self) -> None:
        lead = self.rew.shape
        for name, value, extra in (
            ("obs", self.obs, 1),
            ("act", self.act, 1),
            ("next_obs", self.next_obs, 1),
            ("terminated", self.terminated, 0),
            ("truncated", self.truncated, 0),
        ):
            if value.shape[: len(lead)] != lead or value.dim() != len(lead) + extra:
                raise ValueError(
                    f"TransitionBatch.{name} has shape {tuple(value.shape)}; expected leading "
                    f"dims {tuple(lead)} (from rew){' plus one feature dim' if extra else ''}"
                )
        if self.obs.shape != self.next_obs.shape:
            raise ValueError(
                f"TransitionBatch.obs {tuple(self.obs.shape)} and next_obs "
                f"{tuple(self.next_obs.shape)} must have the same shape"
            )

    @property
    def batch_shape(self) -> torch.Size:
        return self.rew.shape

    @property
    def obs_dim(self) -> int:
        return self.obs.shape[-1]

    @property
    def act_dim(self) -> int:
        return self.act.shape[-1]

    def apply(self, fn: Callable[[Tensor], Tensor]) -> TransitionBatch:
        """A new batch with ``fn`` applied to every field."""
        return TransitionBatch(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, device: torch.device | str) -> TransitionBatch:
        """The batch on ``device``; host→device copies are asynchronous (``non_blocking``).

        A device→host copy stays blocking: a non-blocking one returns before the data has
        arrived, so the host could read the CPU tensors too early.
        """
        target = torch.device(device)
        if all(getattr(self, f.name).device == target for f in fields(self)):
            return self  # already there (every CPU step): no new batch to build and check
        return self.apply(
            lambda t: t.to(target, non_blocking=t.device.type == "cpu" and target.type != "cpu")
        )

    def flatten(self) -> TransitionBatch:
        """Merge all leading dims into one: ``[tasks, N, d]`` → ``[tasks·N, d]``."""
        return TransitionBatch(
            obs=self.obs.flatten(0, -2),
            act=self.act.flatten(0, -2),
            rew=self.rew.flatten(),
            next_obs=self.next_obs.flatten(0, -2),
            terminated=self.terminated.flatten(),
            truncated=self.truncated.flatten(),
        )

    def __getitem__(self, index) -> TransitionBatch:
        return self.apply(lambda t: t[index])

    @staticmethod
    def cat(batches: list[TransitionBatch], dim: int = 0) -> TransitionBatch:
        return TransitionBatch(
            **{
                f.name: torch.cat([getattr(b, f.name) for b in batches], dim)
                for f in fields(TransitionBatch)
            }
        )

    def check_dims(self, obs_dim: int, act_dim: int, where: str) -> None:
        """Raise naming the tensor when the feature dims are not the model's."""
        if self.obs_dim != obs_dim:
            raise ValueError(
                f"{where}: obs has shape {tuple(self.obs.shape)} but the model expects obs_dim "
                f"{obs_dim}; is the batch from another task family?"
            )
        if self.act_dim != act_dim:
            raise ValueError(
                f"{where}: act has shape {tuple(self.act.shape)} but the model expects act_dim "
                f"{act_dim}; is the batch from another task family?"
            )


@dataclass
class MetaBatch:
    """One meta-training step's data (docs/algorithm.md §3): ``support`` for the inner loop, ``query`` for
    the outer loss, both ``[tasks, A]``; ``task_ids`` ``[tasks]`` are train-task indices.
    ``context_support`` ``[tasks, N]``, when present (``data.sac_context_steps`` N), is what
    SAC's training contexts are adapted on instead of ``support``."""

    task_ids: Tensor
    support: TransitionBatch
    query: TransitionBatch
    context_support: TransitionBatch | None = None

    def to(self, device: torch.device | str) -> MetaBatch:
        moved = self._map(lambda t: t.to(device), lambda b: b.to(device))
        same = moved.task_ids is self.task_ids and moved.support is self.support
        if same and moved.query is self.query and moved.context_support is self.context_support:
            return self  # already on ``device``
        return moved

    def clone(self) -> MetaBatch:
        """A copy on fresh memory (a captured step's static inputs)."""
        return self._map(torch.clone, lambda b: b.apply(torch.clone))

    def _map(
        self,
        ids: Callable[[Tensor], Tensor],
        part: Callable[[TransitionBatch], TransitionBatch],
    ) -> MetaBatch:
        """``ids`` on the task ids and ``part`` on each transition batch present."""
        extra = self.context_support
        return MetaBatch(
            ids(self.task_ids),
            part(self.support),
            part(self.query),
            part(extra) if extra is not None else None,
        )
