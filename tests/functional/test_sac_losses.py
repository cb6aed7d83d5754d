"""SAC losses and the ContextSACModule update (spec §5), checked against hand computations."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.functional import sac_losses as F
from mier_pl.modules.context_sac import ContextSACModule, SACConfig
from mier_pl.nets.sac_nets import TanhGaussianActor, TwinCritic

F64 = torch.float64
OBS, ACT, CTX, B = 3, 2, 4, 6
GAMMA, SCALE, LOG_ALPHA = 0.9, 2.0, 0.3


def random_batch(seed: int = 0, terminated=None, truncated=None) -> TransitionBatch:
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, OBS, generator=gen, dtype=F64)
    return TransitionBatch(
        obs=obs,
        act=torch.rand(B, ACT, generator=gen, dtype=F64) * 2 - 1,
        rew=torch.randn(B, generator=gen, dtype=F64),
        next_obs=obs + 0.1 * torch.randn(B, OBS, generator=gen, dtype=F64),
        terminated=torch.tensor(terminated or [0, 1, 0, 0, 1, 0], dtype=F64),
        truncated=torch.tensor(truncated or [1, 0, 0, 1, 0, 0], dtype=F64),
    )


def nets():
    torch.manual_seed(0)
    actor = TanhGaussianActor(OBS + CTX, ACT, (8, 8)).double()
    critic = TwinCritic(OBS + CTX + ACT, (8, 8)).double()
    target = TwinCritic(OBS + CTX + ACT, (8, 8)).double()  # differs from critic on purpose
    log_alpha = torch.tensor(LOG_ALPHA, dtype=F64, requires_grad=True)
    context = torch.randn(B, CTX, dtype=F64)
    return actor, critic, target, log_alpha, context


def hand_target(actor, target, batch, context, seed: int) -> torch.Tensor:
    """r·scale + γ(1 − terminated)(min Q_targ(s', a') − α log π(a'|s')), a' from ``seed``."""
    next_state = torch.cat([batch.next_obs, context], -1)
    with torch.no_grad():
        torch.manual_seed(seed)
        next_action, next_log_prob = actor(next_state)
        next_q = target(torch.cat([next_state, next_action], -1))
        soft = torch.minimum(next_q[0], next_q[1]) - math.exp(LOG_ALPHA) * next_log_prob
    return batch.rew * SCALE + GAMMA * (1 - batch.terminated) * soft


def test_critic_loss_equals_the_hand_target():
    actor, critic, target, log_alpha, context = nets()
    batch = random_batch()
    torch.manual_seed(11)
    loss, metrics = F.critic_loss(critic, target, actor, log_alpha, batch, context, GAMMA, SCALE)
    y = hand_target(actor, target, batch, context, seed=11)
    q = critic(torch.cat([batch.obs, context, batch.act], -1))
    expected = 0.5 * ((q[0] - y) ** 2).mean() + 0.5 * ((q[1] - y) ** 2).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(metrics["target_q"], y.mean(), rtol=1e-12, atol=1e-12)
    # Row by row (B = 1 batches, same seed each): every target is the hand value.
    for i in range(B):
        torch.manual_seed(20 + i)
        _, m = F.critic_loss(
            critic, target, actor, log_alpha, batch[i : i + 1], context[i : i + 1], GAMMA, SCALE
        )
        y_i = hand_target(actor, target, batch[i : i + 1], context[i : i + 1], seed=20 + i)
        torch.testing.assert_close(m["target_q"], y_i[0], rtol=1e-12, atol=1e-12)
        if batch.terminated[i]:
            torch.testing.assert_close(m["target_q"], batch.rew[i] * SCALE, rtol=0, atol=0)


def test_truncated_does_not_stop_the_bootstrap_but_terminated_does():
    actor, critic, target, log_alpha, context = nets()
    args = (critic, target, actor, log_alpha)
    none = random_batch(terminated=[0] * B, truncated=[0] * B)
    trunc = random_batch(terminated=[0] * B, truncated=[1] * B)
    term = random_batch(terminated=[1] * B, truncated=[0] * B)
    torch.manual_seed(3)
    l_none, m_none = F.critic_loss(*args, none, context, GAMMA, SCALE)
    torch.manual_seed(3)
    l_trunc, m_trunc = F.critic_loss(*args, trunc, context, GAMMA, SCALE)
    assert torch.equal(l_none, l_trunc) and torch.equal(m_none["target_q"], m_trunc["target_q"])
    torch.manual_seed(3)
    _, m_term = F.critic_loss(*args, term, context, GAMMA, SCALE)
    torch.testing.assert_close(m_term["target_q"], (term.rew * SCALE).mean(), rtol=0, atol=1e-15)
    assert (m_none["target_q"] - m_term["target_q"]).abs() > 1e-3


def test_critic_loss_writes_only_critic_gradients():
    actor, critic, target, log_alpha, context = nets()
    loss, _ = F.critic_loss(critic, target, actor, log_alpha, random_batch(), context, GAMMA, SCALE)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in critic.parameters())
    assert all(p.grad is None for p in [*actor.parameters(), *target.parameters()])
    assert log_alpha.grad is None


def test_actor_loss_writes_no_critic_gradient():
    actor, critic, _, log_alpha, context = nets()
    batch = random_batch()
    loss, log_prob, metrics = F.actor_loss(critic, actor, log_alpha, batch, context)
    loss.backward()
    assert all(p.grad is None for p in critic.parameters())  # exactly none, not zeros
    assert log_alpha.grad is None
    assert all(p.grad is not None for p in actor.parameters())
    assert not log_prob.requires_grad
    torch.testing.assert_close(metrics["entropy"], -log_prob.mean())

    # Existing critic gradients (from the critic step) are left bit-identical.
    c_loss, _ = F.critic_loss(critic, critic, actor, log_alpha, batch, context, GAMMA, SCALE)
    c_loss.backward()
    before = [p.grad.clone() for p in critic.parameters()]
    F.actor_loss(critic, actor, log_alpha, batch, context)[0].backward()
    assert all(torch.equal(p.grad, g) for p, g in zip(critic.parameters(), before))


def test_actor_loss_value_by_hand():
    actor, critic, _, log_alpha, context = nets()
    batch = random_batch()
    torch.manual_seed(4)
    loss, log_prob, _ = F.actor_loss(critic, actor, log_alpha, batch, context)
    state = torch.cat([batch.obs, context], -1)
    torch.manual_seed(4)
    action, lp = actor(state)
    q = critic(torch.cat([state, action], -1))
    expected = (math.exp(LOG_ALPHA) * lp - torch.minimum(q[0], q[1])).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_prob, lp.detach(), rtol=0, atol=0)


@pytest.mark.parametrize(("log_prob", "grows"), [([3.0, 2.0], True), ([-1.5, -2.5], False)])
def test_alpha_grows_when_entropy_is_below_target(log_prob, grows):
    target_entropy = -1.0
    log_alpha = torch.tensor(0.0, requires_grad=True)
    lp = torch.tensor(log_prob)
    F.alpha_loss(log_alpha, lp, target_entropy).backward()
    # ∂/∂log α of −log α·(log π + H̄) is −(mean log π + H̄).
    assert log_alpha.grad.item() == pytest.approx(-(lp.mean().item() + target_entropy))
    entropy = -lp.mean().item()
    assert (entropy < target_entropy) == grows
    with torch.no_grad():
        log_alpha -= 0.1 * log_alpha.grad  # one SGD step
    assert (log_alpha.item() > 0) == grows


def test_soft_update_is_the_convex_combination():
    torch.manual_seed(0)
    target, source = TwinCritic(5, (4,)).double(), TwinCritic(5, (4,)).double()
    before = [p.clone() for p in target.parameters()]
    tau = 0.005
    F.soft_update(target, source, tau)
    for p, t0, s in zip(target.parameters(), before, source.parameters()):
        torch.testing.assert_close(p, (1 - tau) * t0 + tau * s, rtol=0, atol=1e-15)
        assert not torch.equal(p, t0)
    F.soft_update(target, source, 1.0)
    assert all(torch.equal(p, s) for p, s in zip(target.parameters(), source.parameters()))


# ---------------------------------------------------------------- ContextSACModule
def make_sac(**cfg) -> ContextSACModule:
    torch.manual_seed(0)
    return ContextSACModule(OBS, ACT, CTX, SACConfig(hidden=(16, 16), **cfg)).double()


def test_target_critic_starts_as_a_copy_of_the_critic():
    sac = make_sac()
    pairs = list(zip(sac.critic.parameters(), sac.target_critic.parameters()))
    assert pairs and all(torch.equal(p, t) and p.data_ptr() != t.data_ptr() for p, t in pairs)
    assert not any(t.requires_grad for _, t in pairs)
    opts = sac.configure_optimizers()
    optimised = {id(p) for o in opts for g in o.param_groups for p in g["params"]}
    assert not any(id(t) in optimised for _, t in pairs)


@pytest.mark.parametrize(("choice", "value"), [("release", -1.0), ("action_dim", -float(ACT))])
def test_target_entropy(choice, value):
    assert make_sac(target_entropy=choice).target_entropy == value


def test_one_update_changes_critic_actor_alpha_and_stays_finite():
    sac = make_sac()
    opts = sac.configure_optimizers()
    batch, context = random_batch(), torch.randn(B, CTX, dtype=F64)
    start = copy.deepcopy(sac)
    torch.manual_seed(9)
    metrics = sac.update(batch, context, opts)  # no Trainer: plain steps

    # The critic loss is the one of the pre-update networks (critic first).
    torch.manual_seed(9)
    c_loss, _ = F.critic_loss(
        start.critic,
        start.target_critic,
        start.actor,
        start.log_alpha,
        batch,
        context,
        sac.cfg.gamma,
        sac.cfg.reward_scale,
    )
    torch.testing.assert_close(metrics["critic_loss"], c_loss.detach(), rtol=1e-12, atol=1e-12)
    for name in ("critic", "actor"):
        new, old = getattr(sac, name).parameters(), getattr(start, name).parameters()
        for p, p0 in zip(new, old):
            assert torch.isfinite(p).all()
            # Adam's first step moves every parameter with a gradient by about lr.
            assert (p - p0).abs().max().item() == pytest.approx(sac.cfg.lr, rel=1e-3), name
    # α: Adam's first step is lr against the gradient's sign; it grows iff entropy < H̄.
    step = (sac.log_alpha - start.log_alpha).item()
    assert abs(step) == pytest.approx(sac.cfg.lr, rel=1e-3)
    assert (step > 0) == bool(metrics["entropy"] < sac.target_entropy)
    torch.testing.assert_close(metrics["alpha"], sac.log_alpha.detach().exp())
    # Targets: one soft update from the (equal) start towards the new critic.
    tau = sac.cfg.tau
    for t, p0, p in zip(
        sac.target_critic.parameters(), start.critic.parameters(), sac.critic.parameters()
    ):
        torch.testing.assert_close(t, (1 - tau) * p0 + tau * p, rtol=0, atol=1e-15)
    assert all(torch.isfinite(v).all() for v in metrics.values())
    assert set(metrics) >= {"critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q_mean"}


@pytest.mark.parametrize("act_on", ["device", "cpu"])
def test_acting_snapshot_uses_the_weights_of_when_the_policy_was_made(act_on):
    """``policy()`` acts with a snapshot taken at the call (once per collection phase): the
    actions of ``act`` then (up to float rounding: the context's share of the first layer is
    summed separately), with the same noise draw, unchanged by later updates until the next
    call."""
    sac = make_sac()
    obs, context = torch.randn(5, OBS, dtype=F64), torch.randn(5, CTX, dtype=F64)
    before = sac.act(obs, context, True)
    policy = sac.policy(act_on)
    exact = dict(rtol=0, atol=1e-12)  # float64: a different summation order, nothing else
    torch.testing.assert_close(policy(obs, context, True), before, **exact)
    torch.manual_seed(3)
    noisy = policy(obs, context)
    torch.manual_seed(3)
    torch.testing.assert_close(noisy, sac.act(obs, context), **exact)  # same generator draw
    assert not torch.allclose(noisy, before)
    with torch.no_grad():
        for p in sac.actor.parameters():
            p.add_(0.5)
    torch.testing.assert_close(policy(obs, context, True), before, **exact)  # this phase's copy
    fresh = sac.policy(act_on)(obs, context, True)
    torch.testing.assert_close(fresh, sac.act(obs, context, True), **exact)  # refreshed
    assert not torch.allclose(fresh, before)
    assert not any("snapshot" in k or "host" in k for k in sac.state_dict())  # never saved


def test_acting_snapshot_matches_the_actor_by_hand():
    """The snapshot's deterministic action, recomputed layer by layer from the weights."""
    sac = make_sac()
    obs, context = torch.randn(4, OBS, dtype=F64), torch.randn(4, CTX, dtype=F64)
    x = torch.cat([obs, context], -1)
    linears = [m for m in sac.actor.net if isinstance(m, torch.nn.Linear)]
    for layer in linears[:-1]:
        x = torch.relu(x @ layer.weight.T + layer.bias)
    mean = (x @ linears[-1].weight.T + linears[-1].bias)[:, :ACT]
    torch.testing.assert_close(sac.policy()(obs, context, True), torch.tanh(mean))


def test_acting_snapshot_folds_each_context_once(monkeypatch):
    """Every step of a rollout passes the same context tensor: its share of the first layer
    (and, acting on the CPU, its copy to the host) is computed once for the rollout."""
    sac = make_sac()
    policy = sac.policy("cpu")
    prior, adapted = torch.randn(5, CTX, dtype=F64), torch.randn(5, CTX, dtype=F64)
    moved: list[torch.Tensor] = []
    to = torch.Tensor.to
    monkeypatch.setattr(torch.Tensor, "to", lambda t, *a, **k: moved.append(t) or to(t, *a, **k))
    for context, steps in ((prior, 4), (adapted, 3)):  # the prior phase, then the posterior
        for _ in range(steps):
            policy(torch.randn(5, OBS, dtype=F64), context)
    assert sum(t is prior for t in moved) == 1 and sum(t is adapted for t in moved) == 1


def test_acting_snapshot_computes_few_rows_in_numpy_and_many_in_torch(monkeypatch):
    """On the host, a call whose layers all have at most ``HOST_MATMUL_LIMIT`` rows × in × out
    runs in NumPy; a larger one in torch. Both give the torch actor's actions (float64: 1e-12)
    and take the same noise draw from torch's generator."""
    from mier_pl.fast import acting as nets

    sac = make_sac()  # hidden 16²: the largest layer is 16 × 16 = 256 multiply-adds per row
    policy = sac.policy()
    few = nets.HOST_MATMUL_LIMIT // 256
    assert policy._host_rows == few
    calls: list[int] = []
    host = nets.ActingSnapshot._act_host
    monkeypatch.setattr(
        nets.ActingSnapshot, "_act_host", lambda s, o, d: calls.append(len(o)) or host(s, o, d)
    )
    exact = dict(rtol=0, atol=1e-12)
    for rows, in_numpy in ((5, True), (few, True), (few + 1, False)):
        obs, context = torch.randn(rows, OBS, dtype=F64), torch.randn(rows, CTX, dtype=F64)
        calls.clear()
        torch.manual_seed(7)
        noisy = policy(obs, context)
        assert calls == ([rows] if in_numpy else [])
        torch.manual_seed(7)
        torch.testing.assert_close(noisy, sac.act(obs, context), **exact)
        torch.testing.assert_close(policy(obs, context, True), sac.act(obs, context, True), **exact)
        assert noisy.dtype == F64 and noisy.shape == (rows, ACT)
