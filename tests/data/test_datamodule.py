"""``ReplayDataModule`` and ``MetaBatchLoader``: derived sizes, resumable state, meta-batches."""

from __future__ import annotations

import io
import random
import re

import numpy as np
import pytest
import torch

from mier_pl.data.algorithm import collect_epoch, explore, random_policy
from mier_pl.data.batch import TransitionBatch
from mier_pl.data.buffer import EmptyBufferError, MultiTaskReplay
from mier_pl.data.datamodule import MetaBatchLoader, ReplayDataModule, draw_tasks

FIELDS = ("obs", "act", "rew", "next_obs", "terminated", "truncated")


@pytest.mark.parametrize(
    ("family", "obs", "act", "train", "test", "reward_only"),
    [("point-rotated", 2, 2, 20, 10, False), ("point-goal", 2, 2, 40, 10, True)],
)
def test_build_exposes_the_family_sizes(family, obs, act, train, test, reward_only):
    dm = ReplayDataModule(family, capacity=50)
    assert dm.state_dict() == {}  # nothing to save before build
    dm.build("cpu")
    assert (dm.obs_dim, dm.act_dim, dm.num_train_tasks, dm.num_test_tasks) == (
        obs,
        act,
        train,
        test,
    )
    assert dm.reward_only is reward_only and dm.horizon == 30
    assert (dm.buffer.num_tasks, dm.buffer.obs_dim, dm.buffer.act_dim) == (train, obs, act)
    assert dm.buffer.capacity == 50 and dm.collector.family == family


def filled(family: str = "point-rotated") -> ReplayDataModule:
    dm = ReplayDataModule(family, capacity=200, meta_batch_size=10, batch_size=8, steps_per_epoch=3)
    dm.build("cpu")
    torch.manual_seed(0)
    prior = torch.zeros(1, 5)
    policy = random_policy(dm.act_dim)
    stats = explore(dm.collector, dm.buffer, policy, prior, repeats=1, steps=30, num_envs=5)
    assert stats.env_steps == 20 * 30
    collect_epoch(
        dm.collector,
        dm.buffer,
        [3, 3, 7],
        policy,
        prior,
        lambda b: torch.zeros(b.rew.shape[0], 5),
        prior_steps=20,
        posterior_steps=45,
    )
    return dm


def test_state_dict_round_trip_restores_buffers_and_rng():
    dm = filled()
    state = dm.state_dict()
    stream = io.BytesIO()
    torch.save(state, stream)  # checkpoints load with weights_only=True
    stream.seek(0)
    state = torch.load(stream, weights_only=True)
    expected = (torch.rand(5), np.random.rand(3), random.random())

    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    fresh = ReplayDataModule("point-rotated", capacity=200)
    fresh.build("cpu")
    fresh.load_state_dict(state)
    assert torch.equal(torch.rand(5), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]
    for task in range(dm.num_train_tasks):
        a, b = dm.buffer.all_transitions(task), fresh.buffer.all_transitions(task)
        for name in FIELDS:
            assert torch.equal(getattr(a, name), getattr(b, name)), (task, name)
    assert torch.equal(dm.buffer.pre_size(), fresh.buffer.pre_size())
    # Task 3 was drawn twice: 30 explored + 2 × (20 prior + 45 posterior), 70 of them pre-adapt.
    assert dm.buffer.size()[3] == 160 and dm.buffer.pre_size()[3] == 70
    assert fresh.collector.env_steps == dm.collector.env_steps == 20 * 30 + 3 * 65
    for e1, e2 in zip(dm.collector.envs, fresh.collector.envs):
        np.testing.assert_array_equal(e1.np_random.random(2), e2.np_random.random(2))


def test_state_loaded_before_build_is_applied_by_build():
    dm = filled()
    state = dm.state_dict()
    later = ReplayDataModule("point-rotated", capacity=200)
    later.load_state_dict(state)
    assert later.buffer is None
    later.build("cpu")
    for task in (0, 3, 19):
        assert torch.equal(
            later.buffer.all_transitions(task).obs, dm.buffer.all_transitions(task).obs
        )


def test_family_mismatch_raises_naming_both_families():
    state = filled("point-rotated").state_dict()
    other = ReplayDataModule("point-goal", capacity=200)
    message = re.escape("from family 'point-rotated' but this run's family is 'point-goal'")
    with pytest.raises(ValueError, match=message):
        other.load_state_dict(state)
    other.build("cpu")
    with pytest.raises(ValueError, match=message):
        other.load_state_dict(state)
    assert int(other.buffer.added.sum()) == 0  # nothing was half-loaded


def test_a_checkpoint_of_two_ranks_is_refused_by_one_rank_before_anything_loads():
    """Rank 0's state of a two-rank run: loading it on one rank dropped rank 1's replay."""
    dm = filled()
    state = {**dm.state_dict(), "world_size": 2, "global_step": 12, "shard_dir": "nowhere"}
    single = ReplayDataModule("point-rotated", capacity=200)
    single.build("cpu")
    with pytest.raises(ValueError, match=r"replay of 2 rank\(s\) but this run has 1; resume"):
        single.load_state_dict(state)
    assert int(single.buffer.added.sum()) == 0 and single.collector.env_steps == 0


# ------------------------------------------------------------------ MetaBatchLoader
def signed_buffer(num_tasks: int = 6) -> MultiTaskReplay:
    """obs = [task, v]: pre-adapt rewards v > 0, post-adapt v < 0."""
    buf = MultiTaskReplay(num_tasks, 2, 1, capacity=40, initial_rows=8)

    def rows(task: int, values: list[float]) -> TransitionBatch:
        v = torch.tensor(values)[None]
        obs = torch.stack([torch.full_like(v, float(task)), v], -1)
        z = torch.zeros_like(v)
        return TransitionBatch(obs, v[..., None] / 100, v, obs, z, z)

    for task in range(num_tasks):
        buf.add([task], rows(task, [float(i) for i in range(1, 16)]), pre_adapt=True)
        buf.add([task], rows(task, [-float(i) for i in range(1, 31)]), pre_adapt=False)
    return buf  # 45 added, 40 held: pre 6..15 still held, 1..5 overwritten


def test_meta_batch_loader_yields_len_batches_with_pre_adapt_support():
    loader = MetaBatchLoader(signed_buffer(), meta_batch_size=10, batch_size=12, steps=4)
    assert len(loader) == 4
    torch.manual_seed(0)
    batches = list(loader)
    assert len(batches) == 4
    task_ids = batches[0].task_ids
    assert task_ids.shape == (10,) and task_ids.min() >= 0 and task_ids.max() < 6
    for mb in batches:
        assert torch.equal(mb.task_ids, task_ids)  # drawn once per epoch (spec §3)
        assert mb.support.batch_shape == (10, 12) and mb.query.batch_shape == (10, 12)
        assert mb.support.obs.shape == (10, 12, 2)
        # Support: only pre-adapt data still held (6..15), each row from its own task.
        assert ((mb.support.rew >= 6) & (mb.support.rew <= 15)).all()
        assert torch.equal(mb.support.obs[..., 0], task_ids[:, None].float().expand(10, 12))
        assert torch.equal(mb.query.obs[..., 0], task_ids[:, None].float().expand(10, 12))
    query = torch.cat([mb.query.rew for mb in batches])
    assert (query < 0).any() and (query > 0).any()  # the query draws from the full buffer
    assert not ((query > 0) & (query < 6)).any()  # never an overwritten row
    torch.manual_seed(1)
    assert not torch.equal(next(iter(loader)).task_ids, task_ids)  # a new epoch, new tasks


def test_meta_batch_loader_refuses_a_task_without_pre_adapt_data():
    buf = MultiTaskReplay(1, 2, 1, capacity=10)
    z = torch.zeros(1, 3)
    buf.add(
        [0],
        TransitionBatch(
            torch.zeros(1, 3, 2),
            torch.zeros(1, 3, 1),
            -torch.ones(1, 3),
            torch.zeros(1, 3, 2),
            z,
            z,
        ),
        pre_adapt=False,
    )
    with pytest.raises(
        EmptyBufferError, match=re.escape("pre-adapt replay buffer of train task(s) [0]")
    ):
        next(iter(MetaBatchLoader(buf, meta_batch_size=1, batch_size=4, steps=1)))


def test_train_dataloader_uses_the_module_settings():
    dm = filled()
    loader = dm.train_dataloader()
    assert isinstance(loader, MetaBatchLoader) and len(loader) == 3
    mb = next(iter(loader))
    assert mb.support.batch_shape == (10, 8) and mb.query.batch_shape == (10, 8)
    mb.support.check_dims(dm.obs_dim, dm.act_dim, "support")


def test_meta_batch_tasks_are_distinct_when_the_family_has_enough():
    """Issue: drawn with replacement, 10 of 10 tasks gave 6.6 distinct per epoch on average."""
    torch.manual_seed(0)
    for _ in range(200):
        ids = draw_tasks(10, 10)
        assert sorted(ids.tolist()) == list(range(10))  # a permutation: every task once
    distinct = [len(set(draw_tasks(40, 10).tolist())) for _ in range(200)]
    assert distinct == [10] * 200
    loader = MetaBatchLoader(signed_buffer(6), meta_batch_size=6, batch_size=4, steps=1)
    assert sorted(next(iter(loader)).task_ids.tolist()) == list(range(6))


def test_meta_batch_larger_than_the_family_repeats_tasks():
    torch.manual_seed(0)
    ids = draw_tasks(3, 10)
    assert ids.shape == (10,) and set(ids.tolist()) <= {0, 1, 2}


def test_support_windows_are_consecutive_pre_adapt_rows_from_an_aligned_start():
    buf = signed_buffer(2)  # pre-adapt values 6..15 held per task, in order
    torch.manual_seed(0)
    starts = set()
    for _ in range(100):
        batch = buf.sample_windows(torch.tensor([0, 1]), batch_size=4, align=2)
        values = batch.rew
        for row in values.tolist():
            assert row == [row[0] + k for k in range(4)]  # consecutive, in insertion order
            assert (row[0] - 6) % 2 == 0 and 6 <= row[0] <= 12  # aligned, fits inside 6..15
            starts.add(row[0])
        assert torch.equal(batch.obs[..., 0], torch.tensor([[0.0] * 4, [1.0] * 4]))
    assert starts == {6.0, 8.0, 10.0, 12.0}  # every aligned start is drawn


def test_support_window_longer_than_the_buffer_wraps_around():
    buf = signed_buffer(1)
    row = buf.sample_windows(torch.tensor([0]), batch_size=12, align=5).rew[0].tolist()
    assert row == [6.0 + k for k in range(10)] + [6.0, 7.0]


def test_episodes_support_uses_windows_of_the_horizon():
    dm = ReplayDataModule(family="point-goal", batch_size=30, steps_per_epoch=1, support="episodes")
    dm.build("cpu")
    from mier_pl.data.algorithm import explore, random_policy

    explore(dm.collector, dm.buffer, random_policy(2), torch.zeros(1, 5), 2, 60, 40)
    batch = next(iter(dm.train_dataloader()))
    # Each support row is one whole episode: it starts at the reset state (the origin) and
    # each transition continues from the previous one.
    assert torch.equal(batch.support.obs[:, 0], torch.zeros(10, 2))
    assert torch.equal(batch.support.obs[:, 1:], batch.support.next_obs[:, :-1])
    assert batch.support.truncated[:, -1].eq(1).all()


def test_sac_context_steps_draws_a_window_of_whole_episodes_beside_the_support():
    dm = ReplayDataModule(
        family="point-goal", batch_size=16, steps_per_epoch=1, sac_context_steps=90
    )
    dm.build("cpu")
    from mier_pl.data.algorithm import explore, random_policy

    explore(dm.collector, dm.buffer, random_policy(2), torch.zeros(1, 5), 2, 60, 40)
    batch = next(iter(dm.train_dataloader()))
    extra = batch.context_support
    assert batch.support.batch_shape == (10, 16) and extra.batch_shape == (10, 90)
    # Three whole episodes of 30 from a reset: each starts at the origin, each transition
    # continues the previous one inside an episode, and every 30th is a time-limit cut.
    assert torch.equal(extra.obs[:, ::30], torch.zeros(10, 3, 2))
    inside = [k for k in range(89) if (k + 1) % 30]
    assert torch.equal(extra.obs[:, [k + 1 for k in inside]], extra.next_obs[:, inside])
    assert extra.truncated[:, 29::30].eq(1).all() and extra.truncated.sum() == 30
    dm.sac_context_steps = 0  # the default (release): SAC uses the support's φ_T
    assert next(iter(dm.train_dataloader())).context_support is None


def test_checkpoint_holds_only_the_own_cuda_generator(monkeypatch):
    """A rank on cuda:1 saves cuda:1's state and sets it back on cuda:1 (a CPU stand-in:
    torch.cuda's generator functions record their calls; the buffer is told it is on cuda:1)."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.cuda,
        "get_rng_state",
        lambda device: (
            calls.append(("get", device.index)) or torch.full((4,), 7, dtype=torch.uint8)
        ),
    )
    monkeypatch.setattr(
        torch.cuda, "set_rng_state", lambda state, device: calls.append(("set", device.index))
    )
    for name in ("get_rng_state_all", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, lambda *a: pytest.fail("every GPU's state"))
    dm = filled()
    dm.buffer.device = torch.device("cuda", 1)
    state = dm.state_dict()
    assert torch.equal(state["rng"]["cuda"], torch.full((4,), 7, dtype=torch.uint8))
    fresh = ReplayDataModule("point-rotated", capacity=200)
    fresh.build("cpu")
    load_replay = fresh.buffer.load_state_dict

    def load_then_claim_cuda(replay_state):  # the replay itself loads on the CPU
        load_replay(replay_state)
        fresh.buffer.device = torch.device("cuda", 1)

    monkeypatch.setattr(fresh.buffer, "load_state_dict", load_then_claim_cuda)
    fresh.load_state_dict(state)
    assert calls == [("get", 1), ("set", 1)]
