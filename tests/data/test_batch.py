"""Typed batches (mier_pl/data/batch.py): shapes asserted on creation, flatten, check_dims."""

from __future__ import annotations

import re

import pytest
import torch

from mier_pl.data.batch import MetaBatch, TransitionBatch


def batch(lead=(3, 4), obs_dim=2, act_dim=1, **override) -> TransitionBatch:
    """Every entry encodes its flat position k: 10·k (+ a field offset and the feature index)."""
    n = 1
    for d in lead:
        n *= d
    base = (torch.arange(n, dtype=torch.float32) * 10).reshape(lead)
    fields = {
        "obs": base[..., None] + torch.arange(obs_dim),
        "act": base[..., None] + 0.5 + torch.arange(act_dim),
        "rew": base + 0.25,
        "next_obs": base[..., None] + 1000 + torch.arange(obs_dim),
        "terminated": (base % 20 == 0).float(),
        "truncated": (base % 30 == 0).float(),
    }
    fields.update(override)
    return TransitionBatch(**fields)


@pytest.mark.parametrize(
    ("field", "shape", "message"),
    [
        (
            "obs",
            (3, 5, 2),
            "TransitionBatch.obs has shape (3, 5, 2); expected leading dims (3, 4) (from rew) plus one feature dim",
        ),
        (
            "act",
            (4, 3, 1),
            "TransitionBatch.act has shape (4, 3, 1); expected leading dims (3, 4) (from rew) plus one feature dim",
        ),
        (
            "obs",
            (3, 4),
            "TransitionBatch.obs has shape (3, 4); expected leading dims (3, 4) (from rew) plus one feature dim",
        ),
        (
            "next_obs",
            (3, 4, 2, 1),
            "TransitionBatch.next_obs has shape (3, 4, 2, 1); expected leading dims (3, 4)",
        ),
        (
            "terminated",
            (3, 4, 1),
            "TransitionBatch.terminated has shape (3, 4, 1); expected leading dims (3, 4) (from rew)",
        ),
        (
            "truncated",
            (4,),
            "TransitionBatch.truncated has shape (4,); expected leading dims (3, 4) (from rew)",
        ),
    ],
)
def test_wrong_shape_raises_naming_the_field_and_shapes(field, shape, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        batch(**{field: torch.zeros(shape)})
    if field in ("terminated", "truncated"):
        assert "feature dim" not in str(info.value)


def test_obs_and_next_obs_must_match():
    with pytest.raises(ValueError, match=re.escape("obs (3, 4, 2) and next_obs (3, 4, 5)")):
        batch(next_obs=torch.zeros(3, 4, 5))


def test_properties():
    b = batch()
    assert b.batch_shape == (3, 4) and b.obs_dim == 2 and b.act_dim == 1


def test_flatten_merges_leading_dims_in_row_major_order():
    b = batch(lead=(3, 4))
    flat = b.flatten()
    assert flat.batch_shape == (12,) and flat.obs.shape == (12, 2) and flat.act.shape == (12, 1)
    for i in range(3):
        for j in range(4):
            k = 4 * i + j
            for name in ("obs", "act", "rew", "next_obs", "terminated", "truncated"):
                assert torch.equal(getattr(flat, name)[k], getattr(b, name)[i, j]), (name, i, j)
    assert flat.rew[7].item() == 70.25  # task 1, sample 3
    assert torch.equal(flat.flatten().obs, flat.obs)  # already flat: unchanged


def test_flatten_of_an_empty_batch():
    flat = batch(lead=(2, 0)).flatten()
    assert flat.obs.shape == (0, 2) and flat.act.shape == (0, 1) and flat.rew.shape == (0,)


def test_index_cat_and_apply():
    b = batch(lead=(3, 4))
    row = b[1]
    assert row.batch_shape == (4,) and torch.equal(row.obs, b.obs[1])
    both = TransitionBatch.cat([b[:1], b[2:]])
    assert both.batch_shape == (2, 4) and torch.equal(both.rew, b.rew[[0, 2]])
    side = TransitionBatch.cat([b, b], dim=1)
    assert side.batch_shape == (3, 8) and torch.equal(side.next_obs[:, 4:], b.next_obs)
    doubled = b.apply(lambda t: 2 * t)
    assert torch.equal(doubled.act, 2 * b.act)
    moved = b.to("cpu")
    assert all(torch.equal(getattr(moved, f), getattr(b, f)) for f in ("obs", "rew", "truncated"))


def test_check_dims_names_the_tensor_and_the_expected_size():
    b = batch(lead=(3, 4), obs_dim=2, act_dim=1)
    assert b.check_dims(2, 1, "meta-batch support") is None
    with pytest.raises(
        ValueError,
        match=re.escape(
            "meta-batch support: obs has shape (3, 4, 2) but the model expects obs_dim 5; "
            "is the batch from another task family?"
        ),
    ):
        b.check_dims(5, 1, "meta-batch support")
    with pytest.raises(
        ValueError,
        match=re.escape("SAC batch: act has shape (3, 4, 1) but the model expects act_dim 6"),
    ):
        b.check_dims(2, 6, "SAC batch")


def test_meta_batch_to_keeps_values():
    mb = MetaBatch(torch.tensor([4, 0, 4]), batch(lead=(3, 2)), batch(lead=(3, 5)))
    moved = mb.to("cpu")
    assert torch.equal(moved.task_ids, mb.task_ids)
    assert torch.equal(moved.support.obs, mb.support.obs)
    assert torch.equal(moved.query.rew, mb.query.rew)


def test_only_host_to_device_copies_are_non_blocking(monkeypatch):
    """A non-blocking device→host copy can be read before it has landed; recorded with a
    stand-in for ``Tensor.to`` (no GPU here), which returns the tensor unchanged."""
    requests: list[tuple[str, bool]] = []

    def record(self, device, non_blocking=False):
        requests.append((torch.device(device).type, non_blocking))
        return self

    b = batch(lead=(2, 3))
    monkeypatch.setattr(torch.Tensor, "to", record)
    b.to("cuda")
    assert requests == [("cuda", True)] * 6  # host→device: asynchronous
    requests.clear()
    assert b.to("cpu") is b and requests == []  # already there: no copy, the same batch
    monkeypatch.setattr(torch.Tensor, "device", property(lambda self: torch.device("cuda", 0)))
    b.to("cpu")  # device→host: blocking
    assert requests == [("cpu", False)] * 6
