"""The context model (spec §2): loss by hand, soft log-variance bounds, init, separate mode."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mier_pl.data.batch import TransitionBatch
from mier_pl.nets.model import ContextModel, GaussianMLP

OBS, ACT, CTX, TASKS, N = 3, 2, 4, 2, 7
F64 = torch.float64


def random_batch(seed: int = 0) -> TransitionBatch:
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(TASKS, N, OBS, generator=gen, dtype=F64)
    return TransitionBatch(
        obs=obs,
        act=torch.rand(TASKS, N, ACT, generator=gen, dtype=F64) * 2 - 1,
        rew=torch.randn(TASKS, N, generator=gen, dtype=F64),
        next_obs=obs + 0.5 * torch.randn(TASKS, N, OBS, generator=gen, dtype=F64),
        terminated=torch.zeros(TASKS, N, dtype=F64),
        truncated=torch.zeros(TASKS, N, dtype=F64),
    )


def make_model(separate: bool = False, hidden: int = 8, layers: int = 2) -> ContextModel:
    torch.manual_seed(0)
    model = ContextModel(OBS, ACT, CTX, hidden=hidden, layers=layers, separate=separate).double()
    # Move the bounds off their init so the reward/state slices of the penalty differ.
    with torch.no_grad():
        for net in [m for m in model.modules() if isinstance(m, GaussianMLP)]:
            net.max_logvar.add_(torch.linspace(-0.2, 0.3, net.out_dim, dtype=F64))
            net.min_logvar.add_(torch.linspace(0.5, -0.5, net.out_dim, dtype=F64))
    return model


def hand_forward(net: GaussianMLP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky-ReLU(0.2) MLP from the raw weights, then the two soft bounds of spec §2."""
    for layer in net.body:
        x = x @ layer.weight.T + layer.bias
        x = torch.where(x > 0, x, 0.2 * x)
    out = x @ net.head.weight.T + net.head.bias
    mean, raw = out[..., : net.out_dim], out[..., net.out_dim :]
    lv = net.max_logvar - F.softplus(net.max_logvar - raw)
    lv = net.min_logvar + F.softplus(lv - net.min_logvar)
    return mean, lv


def hand_loss(mean, lv, target, max_lv, min_lv) -> torch.Tensor:
    """mean((μ − y)²·exp(−lv)) + mean(lv) + 0.01·Σmax − 0.01·Σmin, per task."""
    fit = ((mean - target) ** 2 * torch.exp(-lv)).mean(dim=(-2, -1))
    return fit + lv.mean(dim=(-2, -1)) + 0.01 * max_lv.sum() - 0.01 * min_lv.sum()


def test_joint_loss_equals_the_spec_formula_by_hand():
    model, batch = make_model(), random_batch()
    ctx = torch.randn(TASKS, CTX, dtype=F64, generator=torch.Generator().manual_seed(1))
    x = torch.cat([batch.obs, batch.act, ctx[:, None, :].expand(TASKS, N, CTX)], -1)
    mean, lv = hand_forward(model.net, x)
    net = model.net
    reward = hand_loss(
        mean[..., :1], lv[..., :1], batch.rew[..., None], net.max_logvar[:1], net.min_logvar[:1]
    )
    state = hand_loss(
        mean[..., 1:],
        lv[..., 1:],
        batch.next_obs - batch.obs,
        net.max_logvar[1:],
        net.min_logvar[1:],
    )
    losses = model.losses(batch, ctx)
    assert losses.reward.shape == losses.state.shape == (TASKS,)
    torch.testing.assert_close(losses.reward, reward, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.state, state, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.total(), reward + state, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.adapt_loss(batch, ctx), reward + state, rtol=1e-12, atol=1e-12)
    # Reward and state are mean-reduced separately: not one mean over the obs_dim + 1 dims.
    pooled = hand_loss(
        mean,
        lv,
        torch.cat([batch.rew[..., None], batch.next_obs - batch.obs], -1),
        net.max_logvar,
        net.min_logvar,
    )
    assert (losses.total() - pooled).abs().min() > 1e-3


def test_separate_loss_equals_the_spec_formula_by_hand():
    model, batch = make_model(separate=True), random_batch(1)
    ctx = torch.randn(TASKS, CTX, dtype=F64, generator=torch.Generator().manual_seed(2))
    x = torch.cat([batch.obs, batch.act, ctx[:, None, :].expand(TASKS, N, CTX)], -1)
    r_mean, r_lv = hand_forward(model.reward_net, x)
    s_mean, s_lv = hand_forward(model.state_net, torch.cat([batch.obs, batch.act], -1))
    rn, sn = model.reward_net, model.state_net
    reward = hand_loss(r_mean, r_lv, batch.rew[..., None], rn.max_logvar, rn.min_logvar)
    state = hand_loss(s_mean, s_lv, batch.next_obs - batch.obs, sn.max_logvar, sn.min_logvar)
    losses = model.losses(batch, ctx)
    torch.testing.assert_close(losses.reward, reward, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.state, state, rtol=1e-12, atol=1e-12)
    # The inner loop descends the reward part alone.
    torch.testing.assert_close(model.adapt_loss(batch, ctx), reward, rtol=1e-12, atol=1e-12)
    assert torch.equal(model.losses(batch, ctx, state=False).state, torch.zeros(TASKS, dtype=F64))


@pytest.mark.parametrize("separate", [False, True])
def test_targets_are_reward_then_state_change(separate):
    """A constant-output model that predicts [r0, Δ0] exactly has zero fit on a batch with
    r = r0 and s' = s + Δ0 (random s): the targets are [r, s' − s], reward first."""
    model = make_model(separate)
    r0, delta = 0.7, torch.tensor([0.1, -0.3, 0.25], dtype=F64)
    nets = [model.reward_net, model.state_net] if separate else [model.net]
    means = (
        [torch.tensor([r0], dtype=F64), delta]
        if separate
        else [torch.cat([torch.tensor([r0], dtype=F64), delta])]
    )
    with torch.no_grad():
        for net, mu in zip(nets, means):
            net.head.weight.zero_()
            net.head.bias.copy_(torch.cat([mu, torch.zeros_like(mu)]))  # raw log-variance 0
    batch = random_batch(3)
    batch = TransitionBatch(
        obs=batch.obs,
        act=batch.act,
        rew=torch.full((TASKS, N), r0, dtype=F64),
        next_obs=batch.obs + delta,
        terminated=batch.terminated,
        truncated=batch.truncated,
    )
    ctx = torch.zeros(TASKS, CTX, dtype=F64)
    losses = model.losses(batch, ctx)

    def no_fit(net: GaussianMLP, dims: slice) -> torch.Tensor:
        mx, mn = net.max_logvar[dims], net.min_logvar[dims]
        lv = mn + F.softplus(mx - F.softplus(mx) - mn)  # soft bounds of a raw 0
        return (lv.mean() + 0.01 * mx.sum() - 0.01 * mn.sum()).expand(TASKS)

    if separate:
        expected = no_fit(model.reward_net, slice(None)), no_fit(model.state_net, slice(None))
    else:
        expected = no_fit(model.net, slice(0, 1)), no_fit(model.net, slice(1, None))
    torch.testing.assert_close(losses.reward, expected[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.state, expected[1], rtol=1e-12, atol=1e-12)


def test_soft_logvar_bounds():
    torch.manual_seed(0)
    net = GaussianMLP(3, 2, hidden=4, layers=1).double()
    with torch.no_grad():
        net.max_logvar.copy_(torch.tensor([0.5, 1.5], dtype=F64))
        net.min_logvar.copy_(torch.tensor([-10.0, -3.0], dtype=F64))
        net.head.weight.zero_()
    mx, mn = net.max_logvar.detach(), net.min_logvar.detach()
    raws = torch.linspace(-1000.0, 1000.0, 2001, dtype=F64)
    lvs = []
    for raw in torch.cat([raws, torch.linspace(-15, 5, 401, dtype=F64)]):
        with torch.no_grad():
            net.head.bias[2:] = raw
            lv = net(torch.zeros(1, 3, dtype=F64))[1][0].detach()
        expected = mn + F.softplus(mx - F.softplus(mx - raw) - mn)
        torch.testing.assert_close(lv, expected, rtol=0, atol=1e-12)
        lvs.append(lv)
    lvs = torch.stack(lvs)
    # The spec's soft clamp keeps lv in [min, max + softplus(min − max)]: the second softplus
    # can overshoot max by softplus(min − max) (2.8e-5 at the init bounds), never more.
    upper = mx + F.softplus(mn - mx)
    assert (lvs >= mn).all() and (lvs <= upper + 1e-12).all()
    torch.testing.assert_close(lvs[2000], upper, rtol=0, atol=1e-12)  # raw = +1000
    assert torch.equal(lvs[0], mn)  # raw = −1000: exactly min
    assert (lvs[1:2001] >= lvs[:2000]).all()  # monotone in the raw output


def test_init_bounds_are_the_release_values():
    model = ContextModel(OBS, ACT, CTX, hidden=8, layers=2)
    assert torch.equal(model.net.max_logvar, torch.full((OBS + 1,), 0.5))
    assert torch.equal(model.net.min_logvar, torch.full((OBS + 1,), -10.0))
    sep = ContextModel(OBS, ACT, CTX, hidden=8, layers=2, separate=True)
    assert sep.reward_net.max_logvar.shape == (1,) and sep.state_net.max_logvar.shape == (OBS,)


@pytest.mark.parametrize("separate", [False, True])
def test_glorot_uniform_weights_and_zero_biases(separate):
    torch.manual_seed(0)
    model = ContextModel(OBS, ACT, CTX, hidden=64, layers=3, separate=separate)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == (2 if separate else 1) * 4
    for layer in linears:
        fan_out, fan_in = layer.weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.9 * bound  # uniform on the whole interval, not a narrower law
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.2)
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    # Spot-check the bound of the first layer: fan_in = obs + act (+ ctx), fan_out = 64.
    first = model.reward_net.body[0] if separate else model.net.body[0]
    assert first.weight.shape == (64, OBS + ACT + CTX)


def test_separate_adapt_loss_does_not_touch_the_state_net():
    model, batch = make_model(separate=True), random_batch(4)
    ctx = torch.zeros(TASKS, CTX, dtype=F64, requires_grad=True)
    loss = model.adapt_loss(batch, ctx)
    state_params = list(model.state_net.parameters())
    grads = torch.autograd.grad(
        loss.sum(), [ctx, *state_params], allow_unused=True, retain_graph=True
    )
    assert grads[0].abs().max() > 0  # the context does move the reward loss
    assert all(g is None for g in grads[1:])
    loss.sum().backward()
    assert all(p.grad is None for p in state_params)
    assert all(p.grad is not None for p in model.reward_net.parameters())
    # Changing the state net leaves the adapt loss bit-identical.
    with torch.no_grad():
        for p in state_params:
            p.add_(1.0)
    assert torch.equal(model.adapt_loss(batch, ctx.detach()), loss.detach())


@pytest.mark.parametrize("separate", [False, True])
def test_predict_samples_next_obs_as_obs_plus_delta(separate):
    model, batch = make_model(separate), random_batch(5)
    ctx = torch.randn(TASKS, CTX, dtype=F64, generator=torch.Generator().manual_seed(6))
    reward, next_obs = model.predict(batch.obs, batch.act, ctx, torch.Generator().manual_seed(7))
    assert reward.shape == (TASKS, N) and next_obs.shape == (TASKS, N, OBS)

    gen = torch.Generator().manual_seed(7)
    x = torch.cat([batch.obs, batch.act, ctx[:, None, :].expand(TASKS, N, CTX)], -1)
    with torch.no_grad():
        if separate:
            mean, lv = hand_forward(model.reward_net, x)
            r = mean + torch.exp(0.5 * lv) * torch.randn(mean.shape, generator=gen, dtype=F64)
            mean, lv = hand_forward(model.state_net, torch.cat([batch.obs, batch.act], -1))
            d = mean + torch.exp(0.5 * lv) * torch.randn(mean.shape, generator=gen, dtype=F64)
        else:
            mean, lv = hand_forward(model.net, x)
            out = mean + torch.exp(0.5 * lv) * torch.randn(mean.shape, generator=gen, dtype=F64)
            r, d = out[..., :1], out[..., 1:]
    torch.testing.assert_close(reward, r[..., 0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(next_obs, batch.obs + d, rtol=1e-12, atol=1e-12)
    # sample_reward draws the same reward from the same generator state.
    again = model.sample_reward(batch.obs, batch.act, ctx, torch.Generator().manual_seed(7))
    torch.testing.assert_close(again, r[..., 0], rtol=1e-12, atol=1e-12)
