"""Per-task replay (mier_pl/data/buffer.py): exact FIFO contents, pre-adapt subset, checkpoint.

Every transition encodes one number ``v`` (its reward): obs = [v, −v], act = v/1000,
next_obs = obs + 0.5, terminated = (v % 7 == 0), truncated = (v % 5 == 0). Pre-adapt
transitions get v > 0 and post-adapt ones v < 0, so a sample tells where it came from.
"""

from __future__ import annotations

import io
import random
import re

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mier_pl.data.batch import TransitionBatch
from mier_pl.data.buffer import EmptyBufferError, MultiTaskReplay

OBS, ACT = 2, 1


def encode(values) -> TransitionBatch:
    """``values`` ``[tasks, n]`` → a batch whose every field is a function of the value."""
    v = torch.as_tensor(values, dtype=torch.float32)
    if v.dim() == 1:
        v = v[None]
    obs = torch.stack([v, -v], -1)
    return TransitionBatch(
        obs=obs,
        act=(v / 1000)[..., None],
        rew=v,
        next_obs=obs + 0.5,
        terminated=(v % 7 == 0).float(),
        truncated=(v % 5 == 0).float(),
    )


def assert_encoded(b: TransitionBatch) -> None:
    """Every field of every row agrees with its reward (no torn or mixed rows)."""
    expected = encode(b.rew)
    for name in ("obs", "act", "next_obs", "terminated", "truncated"):
        assert torch.equal(
            getattr(b, name), getattr(expected, name).reshape(getattr(b, name).shape)
        ), name


def rewards(buf: MultiTaskReplay, task: int) -> list[float]:
    held = buf.all_transitions(task)
    assert_encoded(held)
    return held.rew.tolist()


def sampled(buf: MultiTaskReplay, task: int, pre_adapt: bool, n: int = 3000, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    b = buf.sample(torch.tensor([task]), n, pre_adapt=pre_adapt, generator=gen)
    assert b.batch_shape == (1, n)
    assert_encoded(b)
    return set(b.rew[0].tolist())


def span(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


# ------------------------------------------------------------------- FIFO contents
def test_wrap_around_keeps_exactly_the_newest_capacity_transitions():
    buf = MultiTaskReplay(1, OBS, ACT, capacity=10, initial_rows=4)
    counter = 1
    for n, rows in [(3, 4), (4, 8), (5, 10), (6, 10)]:
        buf.add([0], encode(span(counter, counter + n - 1)), pre_adapt=False)
        counter += n
        assert buf.rows == rows
    # abs index a holds value a + 1 in row a % 10: rows 0-7 were overwritten by 11-18.
    assert rewards(buf, 0) == [11, 12, 13, 14, 15, 16, 17, 18, 9, 10]
    assert int(buf.size()[0]) == 10


def test_an_add_longer_than_capacity_keeps_its_tail():
    buf = MultiTaskReplay(1, OBS, ACT, capacity=10, initial_rows=4)
    buf.add([0], encode(span(1, 25)), pre_adapt=True)
    assert sorted(rewards(buf, 0)) == span(16, 25)
    assert int(buf.pre_size()[0]) == 10
    assert sampled(buf, 0, pre_adapt=True) == set(span(16, 25))


def test_repeated_task_ids_append_in_order():
    buf = MultiTaskReplay(3, OBS, ACT, capacity=100, initial_rows=4)
    buf.add([0, 2, 0], encode([span(1, 3), span(11, 13), span(21, 23)]), pre_adapt=False)
    assert rewards(buf, 0) == [1, 2, 3, 21, 22, 23]
    assert rewards(buf, 1) == []
    assert rewards(buf, 2) == [11, 12, 13]
    assert buf.size().tolist() == [6, 0, 3]


def test_storage_grows_geometrically_to_capacity_and_keeps_content():
    buf = MultiTaskReplay(2, OBS, ACT, capacity=100, initial_rows=4)
    added = 0
    for _ in range(40):
        values = span(added + 1, added + 3)
        buf.add([0, 1], encode([values, [v + 1000 for v in values]]), pre_adapt=False)
        added += 3
        needed = min(added, 100)
        rows = 4
        while rows < needed:
            rows = min(100, 2 * rows)
        assert buf.rows == rows, added
        held = rewards(buf, 0)
        if added <= 100:
            assert held == span(1, added)
            assert rewards(buf, 1) == [v + 1000 for v in span(1, added)]
    assert buf.rows == 100
    assert sorted(rewards(buf, 0)) == span(21, 120)


# ---------------------------------------------------------------------- sampling
def test_sampling_never_returns_unfilled_rows():
    buf = MultiTaskReplay(3, OBS, ACT, capacity=1000, initial_rows=64)
    buf.add([0], encode(span(1, 37)), pre_adapt=False)
    buf.add([1], encode(span(101, 105)), pre_adapt=False)
    buf.add([2], encode(span(201, 213)), pre_adapt=False)
    assert buf.rows == 64  # rows 37-63 of task 0 exist and hold zeros
    gen = torch.Generator().manual_seed(0)
    b = buf.sample(torch.tensor([0, 1, 2, 1]), 4000, generator=gen)
    assert b.batch_shape == (4, 4000) and b.terminated.dtype == torch.float32
    assert (b.rew >= 1).all()
    assert_encoded(b)
    assert set(b.rew[0].tolist()) == set(span(1, 37))  # uniform: every held row shows up
    assert set(b.rew[1].tolist()) == set(b.rew[3].tolist()) == set(span(101, 105))
    assert set(b.rew[2].tolist()) == set(span(201, 213))
    # Roughly uniform: each of the 5 rows of task 1 is about a fifth of 8000 draws.
    counts = torch.bincount(torch.cat([b.rew[1], b.rew[3]]).long() - 101)
    assert ((counts - 1600).abs() < 200).all(), counts


def test_pre_adapt_sampling_only_returns_pre_adapt_transitions_through_staleness():
    buf = MultiTaskReplay(2, OBS, ACT, capacity=20, initial_rows=4)
    buf.add([0], encode(span(1, 10)), pre_adapt=True)
    buf.add([0], encode([-v for v in span(11, 15)]), pre_adapt=False)
    buf.add([1], encode(span(501, 503)), pre_adapt=True)
    assert sampled(buf, 0, pre_adapt=True) == set(span(1, 10))
    buf.add([0], encode(span(16, 25)), pre_adapt=True)
    # 25 added, 20 held: abs 0-4 (values 1-5) are gone, so are their pre entries.
    assert buf.pre_size().tolist() == [15, 3]
    assert sampled(buf, 0, pre_adapt=True) == set(span(6, 10) + span(16, 25))
    assert sampled(buf, 0, pre_adapt=False) == set(
        span(6, 10) + [-v for v in span(11, 15)] + span(16, 25)
    )
    # 20 post-adapt transitions push every pre-adapt one out.
    buf.add([0], encode([-v for v in span(26, 45)]), pre_adapt=False)
    assert buf.pre_size().tolist() == [0, 3]
    with pytest.raises(
        EmptyBufferError, match=re.escape("pre-adapt replay buffer of train task(s) [0]")
    ):
        buf.check_nonempty([0, 1], pre_adapt=True)
    buf.check_nonempty([0, 1], pre_adapt=False)
    buf.add([0], encode(span(46, 48)), pre_adapt=True)
    assert sampled(buf, 0, pre_adapt=True) == {46, 47, 48}
    assert sampled(buf, 1, pre_adapt=True) == {501, 502, 503}  # other task untouched


class ReferenceReplay:
    """The obvious list-based model: the last ``capacity`` transitions, some flagged pre."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.items = capacity, []  # (value, pre)

    def add(self, values, pre) -> None:
        self.items = (self.items + [(v, pre) for v in values])[-self.capacity :]

    def storage_order(self, added: int) -> list:
        """Row r holds abs index a with a % capacity == r."""
        first = added - len(self.items)
        rows = {(first + i) % self.capacity: v for i, (v, _) in enumerate(self.items)}
        return [rows[r] for r in range(len(self.items))]

    def pre(self) -> set:
        return {v for v, pre in self.items if pre}


def test_random_add_sequences_match_a_reference_model():
    rng = random.Random(0)
    capacity = 7
    buf = MultiTaskReplay(1, OBS, ACT, capacity=capacity, initial_rows=2)
    ref = ReferenceReplay(capacity)
    counter, added = 1, 0
    for step in range(80):
        n = rng.randint(1, 9)
        pre = rng.random() < 0.4
        values = [v if pre else -v for v in span(counter, counter + n - 1)]
        buf.add([0], encode(values), pre_adapt=pre)
        ref.add(values, pre)
        counter += n
        added += min(n, capacity)
        assert rewards(buf, 0) == ref.storage_order(added), step
        assert int(buf.pre_size()[0]) == len(ref.pre()), step
        if ref.pre():
            assert sampled(buf, 0, pre_adapt=True, n=400, seed=step) == ref.pre(), step


# -------------------------------------------------------------------- checkpoint
def filled_buffer() -> MultiTaskReplay:
    buf = MultiTaskReplay(3, OBS, ACT, capacity=12, initial_rows=2)
    buf.add([0, 1], encode([span(1, 8), span(101, 108)]), pre_adapt=True)
    buf.add([0], encode([-v for v in span(9, 15)]), pre_adapt=False)
    buf.add([0, 1], encode([span(16, 20), span(116, 120)]), pre_adapt=True)
    return buf  # task 0 wrapped with stale pre entries, task 1 partly full, task 2 empty


def test_state_dict_round_trip_is_bit_identical():
    buf = filled_buffer()
    state = buf.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    stream = io.BytesIO()
    torch.save(state, stream)
    stream.seek(0)
    loaded = torch.load(stream, weights_only=True)

    fresh = MultiTaskReplay(3, OBS, ACT, capacity=12, initial_rows=1)
    fresh.load_state_dict(loaded)
    for task in range(3):
        a, b = buf.all_transitions(task), fresh.all_transitions(task)
        for name in ("obs", "act", "rew", "next_obs", "terminated", "truncated"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (task, name)
    assert torch.equal(buf.size(), fresh.size()) and torch.equal(buf.pre_size(), fresh.pre_size())
    for pre in (False, True):
        ids = torch.tensor([0, 1, 0])
        x = buf.sample(ids, 500, pre, torch.Generator().manual_seed(1))
        y = fresh.sample(ids, 500, pre, torch.Generator().manual_seed(1))
        assert torch.equal(x.rew, y.rew) and torch.equal(x.obs, y.obs)
    # Both keep behaving identically: the counters came back too.
    for b in (buf, fresh):
        b.add([0, 2], encode([span(21, 30), span(201, 210)]), pre_adapt=True)
    for task in range(3):
        assert rewards(buf, task) == rewards(fresh, task)
    assert torch.equal(buf.pre_size(), fresh.pre_size())


def test_load_state_dict_rejects_another_shape():
    state = filled_buffer().state_dict()
    with pytest.raises(ValueError, match="capacity 12, but this buffer is 3 × 24"):
        MultiTaskReplay(3, OBS, ACT, capacity=24).load_state_dict(state)
    with pytest.raises(ValueError, match="obs_dim 2, act_dim 1; this family has 4, 1"):
        MultiTaskReplay(3, 4, ACT, capacity=12).load_state_dict(state)


# ------------------------------------------------------------------------- errors
def test_check_nonempty_names_the_empty_tasks():
    buf = filled_buffer()
    buf.add([2], encode([-1.0, -2.0]), pre_adapt=False)
    buf.check_nonempty([0, 1, 2], pre_adapt=False)
    with pytest.raises(
        EmptyBufferError, match=re.escape("pre-adapt replay buffer of train task(s) [2] is empty")
    ):
        buf.check_nonempty([0, 2, 1], pre_adapt=True)
    empty = MultiTaskReplay(4, OBS, ACT, capacity=5)
    with pytest.raises(
        EmptyBufferError, match=re.escape("the full replay buffer of train task(s) [1, 3] is empty")
    ):
        empty.check_nonempty([1, 3], pre_adapt=False)


def test_add_with_wrong_shapes_raises_naming_the_tensor():
    buf = MultiTaskReplay(3, OBS, ACT, capacity=10)
    bad_obs = TransitionBatch(
        obs=torch.zeros(1, 5, 3),
        act=torch.zeros(1, 5, ACT),
        rew=torch.zeros(1, 5),
        next_obs=torch.zeros(1, 5, 3),
        terminated=torch.zeros(1, 5),
        truncated=torch.zeros(1, 5),
    )
    with pytest.raises(
        ValueError, match=re.escape("obs has shape (1, 5, 3) but the model expects obs_dim 2")
    ):
        buf.add([0], bad_obs, pre_adapt=True)
    bad_act = TransitionBatch(**{**vars(encode(span(1, 5))), "act": torch.zeros(1, 5, 4)})
    with pytest.raises(
        ValueError, match=re.escape("act has shape (1, 5, 4) but the model expects act_dim 1")
    ):
        buf.add([0], bad_act, pre_adapt=True)
    with pytest.raises(ValueError, match=re.escape("rew has shape (1, 5); expected [2 tasks, n]")):
        buf.add([0, 1], encode(span(1, 5)), pre_adapt=True)
    with pytest.raises(IndexError, match=re.escape("task id 3 out of range 0..2")):
        buf.add([3], encode(span(1, 5)), pre_adapt=True)
    with pytest.raises(ValueError, match="capacity must be positive"):
        MultiTaskReplay(1, OBS, ACT, capacity=0)


class _Ops(TorchDispatchMode):
    """Records every aten op's name and output size."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.ops.append((str(func), out.numel()))
        return out


def test_checkpoint_copies_one_task_at_a_time_between_device_and_host():
    """No op touches more than one task's rows of a field, so a GPU replay is never cloned on
    the device (the old ``t[:, :used].clone()`` copied every task's rows at once, on the
    device, then Lightning moved them: a 12 GiB clone for humanoid_dir). Only the host-side
    outputs are allocated whole (``aten.empty``)."""
    buf = filled_buffer()
    used = int(buf.size().max())
    widest = used * OBS  # one task's rows of obs: the largest per-task piece
    with _Ops() as mode:
        state = buf.state_dict()
    copies = [(op, n) for op, n in mode.ops if not op.startswith("aten.empty")]
    assert copies and max(n for _, n in copies) <= widest, copies
    assert all(t.device.type == "cpu" for t in state.values())
    assert state["obs"].shape == (3, used, OBS)

    fresh = MultiTaskReplay(3, OBS, ACT, capacity=12, initial_rows=12)
    with _Ops() as mode:
        fresh.load_state_dict(state)
    loaded = [(op, n) for op, n in mode.ops if not op.startswith("aten.empty")]
    assert max(n for _, n in loaded) <= widest, loaded
    again = fresh.state_dict()
    for name, value in state.items():
        assert torch.equal(again[name], value), name
