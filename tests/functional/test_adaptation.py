"""Test-time identification (spec §6 steps 1-3): schedule, split, shared inner loop, fallback."""

from __future__ import annotations

import math

import pytest
import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.functional.adaptation import context_lrs, identify, split_validation, validation_loss
from mier_pl.functional.inner_loop import adapt_context
from mier_pl.nets.model import ContextModel

A, OBS, ACT, CTX = 60, 2, 2, 3


def real_batch(seed: int = 0) -> TransitionBatch:
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(A, OBS, generator=gen)
    act = torch.rand(A, ACT, generator=gen) * 2 - 1
    next_obs = obs + 0.1 * act @ torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    rew = -torch.linalg.vector_norm(next_obs - torch.tensor([1.0, 0.0]), dim=-1)
    return TransitionBatch(obs, act, rew, next_obs, torch.zeros(A), torch.zeros(A))


def model(separate: bool = False) -> ContextModel:
    torch.manual_seed(0)
    return ContextModel(OBS, ACT, CTX, hidden=16, layers=2, separate=separate)


def test_context_schedule_is_001_twice_then_0001():
    assert context_lrs(5) == [0.01, 0.01, 0.001, 0.001, 0.001]
    assert context_lrs(2) == [0.01, 0.01]
    assert context_lrs(0) == []


def test_validation_split_is_a_disjoint_80_20_shuffle():
    batch = real_batch()
    batch.rew = torch.arange(A, dtype=torch.float32)  # row ids
    support, val = split_validation(batch, 0.2, torch.Generator().manual_seed(1))
    assert (len(support.rew), len(val.rew)) == (48, 12)
    ids = torch.cat([support.rew, val.rew]).long()
    assert sorted(ids.tolist()) == list(range(A))
    assert val.rew.long().tolist() != list(range(48, 60))  # shuffled, not the tail


def test_context_steps_are_the_shared_inner_loop_on_the_adapt_split():
    m, batch = model(), real_batch()
    report = identify(
        m,
        torch.zeros(1, CTX),
        batch,
        context_steps=4,
        model_steps=0,
        generator=torch.Generator().manual_seed(3),
    )
    support, val = split_validation(batch, 0.2, torch.Generator().manual_seed(3))
    with torch.enable_grad():
        expected = adapt_context(
            lambda c: m.adapt_loss(support[None], c),
            torch.zeros(1, CTX),
            [0.01, 0.01, 0.001, 0.001],
            10.0,
        )
    torch.testing.assert_close(report.context, expected.detach(), rtol=0, atol=0)
    assert report.val_loss_context == pytest.approx(validation_loss(m, val, expected.detach()))
    assert report.val_losses == [] and not report.diverged


def test_model_steps_lower_the_validation_loss_and_keep_the_context():
    m, batch = model(), real_batch()
    report = identify(
        m,
        torch.zeros(1, CTX),
        batch,
        2,
        30,
        model_lr=1e-3,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(report.val_losses) == 30 and not report.diverged
    assert report.val_losses[-1] < report.val_loss_context - 0.05
    assert report.val_loss == report.val_losses[-1]


def test_diverging_model_steps_restore_the_context_only_model_exactly():
    m, batch = model(), real_batch()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    report = identify(
        m,
        torch.zeros(1, CTX),
        batch,
        2,
        5,
        model_lr=1e4,
        generator=torch.Generator().manual_seed(0),
    )
    assert report.diverged and ("rose" in report.reason or "became" in report.reason)
    assert report.val_loss == report.val_loss_context
    assert (
        not math.isfinite(report.val_losses[-1]) or report.val_losses[-1] > report.val_loss_context
    )
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in m.parameters())


def test_without_rollback_worse_model_steps_are_kept_as_the_release_does():
    m, batch = model(), real_batch()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    args = (m, torch.zeros(1, CTX), batch, 2, 3)
    report = identify(
        *args, model_lr=3.0, generator=torch.Generator().manual_seed(0), rollback=False
    )
    final = report.val_losses[-1]  # measured: 1.3e7 against 3.79 after the context steps
    assert math.isfinite(final) and final > report.val_loss_context  # the steps made it worse ...
    assert not report.diverged and report.val_loss == final  # ... and it is kept
    assert any(not torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_separate_models_adapt_only_the_reward_model():
    m, batch = model(separate=True), real_batch()
    state_before = {k: v.clone() for k, v in m.state_net.state_dict().items()}
    reward_before = [p.clone() for p in m.reward_net.parameters()]
    report = identify(
        m, torch.zeros(1, CTX), batch, 2, 10, generator=torch.Generator().manual_seed(0)
    )
    for k, v in m.state_net.state_dict().items():
        assert torch.equal(v, state_before[k]), k
    moved = any(not torch.equal(a, b) for a, b in zip(m.reward_net.parameters(), reward_before))
    assert moved or report.diverged
