"""Per-task replay buffers as preallocated tensors on the training device (docs/algorithm.md §1).

One :class:`MultiTaskReplay` holds every train task's **full** buffer as ``[tasks, rows, ·]``
tensors, so a meta-batch of many tasks is one gather, never a loop. The **pre-adapt** buffer
(transitions collected with the prior context φ₀) is a subset of the full one, so it is kept as
a ring of row indices into it instead of a second copy of the data.

Storage grows geometrically up to ``capacity`` rows per task: a small run never allocates the
capacity, and a GPU run never reserves memory it does not use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch

_FLOAT_FIELDS = ("obs", "act", "rew", "next_obs")
_FLAG_FIELDS = ("terminated", "truncated")


class EmptyBufferError(RuntimeError):
    """Sampling from a task that has no transitions yet."""


class MultiTaskReplay:
    """Ring buffers for ``num_tasks`` tasks with a pre-adapt subset.

    Args:
        num_tasks: number of train tasks.
        obs_dim: observation size.
        act_dim: action size.
        capacity: rows kept per task; the oldest are overwritten (FIFO) once full.
        device: where the storage lives (the training device).
        initial_rows: first allocation per task; doubles until ``capacity``.
    """

    def __init__(
        self,
        num_tasks: int,
        obs_dim: int,
        act_dim: int,
        capacity: int,
        device: torch.device | str = "cpu",
        initial_rows: int = 4096,
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.num_tasks, self.obs_dim, self.act_dim = num_tasks, obs_dim, act_dim
        self.capacity = capacity
        self.device = torch.device(device)
        rows = min(capacity, initial_rows)
        dims = {"obs": obs_dim, "act": act_dim, "rew": None, "next_obs": obs_dim}
        self._data: dict[str, Tensor] = {
            name: torch.zeros(num_tasks, rows, *([d] if d else []), device=self.device)
            for name, d in dims.items()
        }
        for name in _FLAG_FIELDS:
            self._data[name] = torch.zeros(num_tasks, rows, dtype=torch.bool, device=self.device)
        # Absolute counters (host side: they drive Python control flow, never the hot path).
        self.added = torch.zeros(num_tasks, dtype=torch.long)  # full transitions ever added
        self.pre_added = torch.zeros(num_tasks, dtype=torch.long)  # pre-adapt ever added
        self.pre_first = torch.zeros(num_tasks, dtype=torch.long)  # oldest pre entry still held
        # pre_abs[t, k % capacity] = absolute full-buffer index of the k-th pre-adapt transition
        self._pre_abs = torch.zeros(num_tasks, rows, dtype=torch.long, device=self.device)
        self._sync_sizes()

    # ---------------------------------------------------------------- sizes
    @property
    def rows(self) -> int:
        return self._data["rew"].shape[1]

    def size(self) -> Tensor:
        """Transitions held per task ``[tasks]`` (host)."""
        return self.added.clamp(max=self.capacity)

    def pre_size(self) -> Tensor:
        """Pre-adapt transitions held per task ``[tasks]`` (host)."""
        return self.pre_added - self.pre_first

    def _sync_sizes(self) -> None:
        # Device copies used by sampling, refreshed only when data is added.
        self._size_dev = self.size().to(self.device)
        self._pre_first_dev = self.pre_first.to(self.device)
        self._pre_size_dev = self.pre_size().to(self.device)

    def _grow(self, needed: int) -> None:
        rows = self.rows
        if needed <= rows:
            return
        new_rows = rows
        while new_rows < needed:
            new_rows = min(self.capacity, 2 * new_rows)
        for name, t in list(self._data.items()):
            grown = torch.zeros(
                t.shape[0], new_rows, *t.shape[2:], dtype=t.dtype, device=self.device
            )
            grown[:, :rows] = t
            self._data[name] = grown
        grown = torch.zeros(self.num_tasks, new_rows, dtype=torch.long, device=self.device)
        grown[:, :rows] = self._pre_abs
        self._pre_abs = grown

    # ------------------------------------------------------------------ add
    def add(self, task_ids: Sequence[int], batch: TransitionBatch, pre_adapt: bool) -> None:
        """Append ``batch`` ``[len(task_ids), n]``: row ``i`` goes to task ``task_ids[i]``.

        ``pre_adapt=True`` marks the transitions as collected with φ₀, so they enter both the
        full and the pre-adapt buffer. Repeated task ids are allowed (docs/algorithm.md §4 draws tasks with
        replacement); their rows are appended in order.
        """
        batch.check_dims(self.obs_dim, self.act_dim, "MultiTaskReplay.add")
        if batch.rew.dim() != 2 or batch.rew.shape[0] != len(task_ids):
            raise ValueError(
                f"MultiTaskReplay.add: rew has shape {tuple(batch.rew.shape)}; expected "
                f"[{len(task_ids)} tasks, n] for task_ids={list(task_ids)}"
            )
        n = batch.rew.shape[1]
        if n > self.capacity:
            batch, n = batch[:, n - self.capacity :], self.capacity
        batch = batch.to(self.device)
        for i, task in enumerate(task_ids):
            if not 0 <= task < self.num_tasks:
                raise IndexError(f"task id {task} out of range 0..{self.num_tasks - 1}")
            start = int(self.added[task])
            self._grow(min(self.capacity, start + n))
            abs_idx = torch.arange(start, start + n)
            rows = (abs_idx % self.capacity).to(self.device)
            for name in (*_FLOAT_FIELDS, *_FLAG_FIELDS):
                value = getattr(batch, name)[i]
                self._data[name][task, rows] = value.to(self._data[name].dtype)
            self.added[task] += n
            if pre_adapt:
                k = int(self.pre_added[task])
                pre_rows = (torch.arange(k, k + n) % self.capacity).to(self.device)
                self._pre_abs[task, pre_rows] = abs_idx.to(self.device)
                self.pre_added[task] += n
            self._drop_stale_pre(task)
        self._sync_sizes()

    def clear(self, task_ids: Sequence[int]) -> None:
        """Empty the buffers of ``task_ids`` (storage is kept and overwritten by later adds)."""
        for task in set(int(t) for t in task_ids):
            if not 0 <= task < self.num_tasks:
                raise IndexError(f"task id {task} out of range 0..{self.num_tasks - 1}")
            self.added[task] = self.pre_added[task] = self.pre_first[task] = 0
        self._sync_sizes()

    def _drop_stale_pre(self, task: int) -> None:
        """Forget pre-adapt entries whose full-buffer row has been overwritten (FIFO order)."""
        oldest_held = int(self.added[task]) - self.capacity
        first = max(int(self.pre_first[task]), int(self.pre_added[task]) - self.capacity)
        if oldest_held > 0:
            # pre entries are in insertion order, so the stale ones are a prefix.
            count = int(self.pre_added[task]) - first
            ring = (torch.arange(first, first + count) % self.capacity).to(self.device)
            stale = int((self._pre_abs[task, ring] < oldest_held).sum())
            first += stale
        self.pre_first[task] = first

    # --------------------------------------------------------------- sample
    def sample(
        self,
        task_ids: Tensor,
        batch_size: int,
        pre_adapt: bool = False,
        generator: torch.Generator | None = None,
    ) -> TransitionBatch:
        """Uniformly sample ``batch_size`` transitions per task, in one gather.

        Args:
            task_ids: ``[tasks]`` long tensor of train-task indices (repeats allowed).
            batch_size: transitions per task (A).
            pre_adapt: draw from the pre-adapt subset instead of the full buffer.

        Returns:
            A ``[tasks, batch_size]`` batch on the buffer's device.
        """
        task_ids = task_ids.to(self.device)
        sizes = (self._pre_size_dev if pre_adapt else self._size_dev)[task_ids]
        u = torch.rand(len(task_ids), batch_size, device=self.device, generator=generator)
        offset = (u * sizes.unsqueeze(1)).long()
        return self._gather(task_ids, offset, pre_adapt)

    def sample_windows(
        self,
        task_ids: Tensor,
        batch_size: int,
        align: int,
        generator: torch.Generator | None = None,
    ) -> TransitionBatch:
        """``batch_size`` consecutive pre-adapt transitions per task, starting at a multiple of
        ``align`` in the task's pre-adapt order (an episode start when every prior rollout is a
        whole number of ``align``-step episodes).

        Such a window is the kind of data the acting context is adapted on (a few fresh
        episodes from the reset state), where :meth:`sample` draws from the whole buffer. A
        task holding fewer than ``batch_size`` pre-adapt transitions wraps around them.
        """
        task_ids = task_ids.to(self.device)
        sizes = self._pre_size_dev[task_ids]
        starts = (sizes - batch_size).clamp(min=0) // align + 1  # window starts per task
        u = torch.rand(len(task_ids), 1, device=self.device, generator=generator)
        start = (u * starts.unsqueeze(1)).long() * align
        steps = torch.arange(batch_size, device=self.device)
        offset = (start + steps) % sizes.unsqueeze(1).clamp(min=1)
        return self._gather(task_ids, offset, pre_adapt=True)

    def _gather(self, task_ids: Tensor, offset: Tensor, pre_adapt: bool) -> TransitionBatch:
        """Rows ``offset`` ``[tasks, n]`` (held-order positions) of each task, in one gather."""
        if pre_adapt:
            k = self._pre_first_dev[task_ids].unsqueeze(1) + offset
            rows = self._pre_abs[task_ids.unsqueeze(1), k % self.capacity] % self.capacity
        else:
            rows = offset
        t = task_ids.unsqueeze(1)
        d = self._data
        return TransitionBatch(
            obs=d["obs"][t, rows],
            act=d["act"][t, rows],
            rew=d["rew"][t, rows],
            next_obs=d["next_obs"][t, rows],
            terminated=d["terminated"][t, rows].float(),
            truncated=d["truncated"][t, rows].float(),
        )

    def check_nonempty(self, task_ids: Sequence[int], pre_adapt: bool) -> None:
        """Raise naming the tasks whose (pre-adapt) buffer is empty."""
        sizes = self.pre_size() if pre_adapt else self.size()
        empty = sorted({int(t) for t in task_ids if sizes[int(t)] == 0})
        if empty:
            which = "pre-adapt" if pre_adapt else "full"
            raise EmptyBufferError(
                f"the {which} replay buffer of train task(s) {empty} is empty; collect data "
                "first (initial_exploration_repeats > 0) before meta-training on them"
            )

    def all_transitions(self, task: int) -> TransitionBatch:
        """Every transition held for ``task`` ``[n]`` (in storage order; for tests and tools)."""
        n = int(self.size()[task])
        d = self._data
        return TransitionBatch(
            obs=d["obs"][task, :n],
            act=d["act"][task, :n],
            rew=d["rew"][task, :n],
            next_obs=d["next_obs"][task, :n],
            terminated=d["terminated"][task, :n].float(),
            truncated=d["truncated"][task, :n].float(),
        )

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [*self._data.values(), self._pre_abs])

    # ----------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Tensor]:
        """Tensors only (checkpoints load with ``weights_only=True``); only filled rows."""
        used = int(self.size().max()) if self.num_tasks else 0
        state = {name: _rows_to_host(t, used) for name, t in self._data.items()}
        state["pre_abs"] = _rows_to_host(self._pre_abs, used)
        state["added"] = self.added.clone()
        state["pre_added"] = self.pre_added.clone()
        state["pre_first"] = self.pre_first.clone()
        state["capacity"] = torch.tensor(self.capacity)
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if int(state["capacity"]) != self.capacity or state["obs"].shape[0] != self.num_tasks:
            raise ValueError(
                f"replay checkpoint holds {state['obs'].shape[0]} tasks × capacity "
                f"{int(state['capacity'])}, but this buffer is {self.num_tasks} × {self.capacity}; "
                "resume with the same family and buffer capacity"
            )
        if state["obs"].shape[-1] != self.obs_dim or state["act"].shape[-1] != self.act_dim:
            raise ValueError(
                f"replay checkpoint has obs_dim {state['obs'].shape[-1]}, act_dim "
                f"{state['act'].shape[-1]}; this family has {self.obs_dim}, {self.act_dim}"
            )
        used = state["obs"].shape[1]
        self._grow(max(used, 1))
        for name in self._data:
            _rows_from_host(self._data[name], state[name])
        _rows_from_host(self._pre_abs, state["pre_abs"])
        self.added = state["added"].clone().cpu()
        self.pre_added = state["pre_added"].clone().cpu()
        self.pre_first = state["pre_first"].clone().cpu()
        self._sync_sizes()


# A checkpoint copies the replay task by task between the device and the host: each task's
# first ``used`` rows are contiguous, so every copy is a direct transfer. Slicing all tasks at
# once (``t[:, :used]``) is not contiguous, and a clone or transfer of it allocates a copy of
# the whole field on the device first: about 12 GiB for humanoid_dir's replay, an OOM on
# cards of 40 GB or less (docs/scaling.md).
def _rows_to_host(storage: Tensor, used: int) -> Tensor:
    """A CPU copy of ``storage[:, :used]`` made without a temporary on ``storage``'s device."""
    out = torch.empty((storage.shape[0], used, *storage.shape[2:]), dtype=storage.dtype)
    for task in range(storage.shape[0]):
        out[task].copy_(storage[task, :used])
    return out


def _rows_from_host(storage: Tensor, saved: Tensor) -> None:
    """``storage[:, :len] = saved`` task by task, without a copy of ``saved`` on the device."""
    used = saved.shape[1]
    for task in range(storage.shape[0]):
        storage[task, :used].copy_(saved[task])
