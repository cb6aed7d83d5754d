"""SAC networks (spec §5): the fused twin critic by hand, the tanh-Gaussian log-prob."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from mier_pl.nets.sac_nets import LOG_STD_MAX, LOG_STD_MIN, TanhGaussianActor, TwinCritic

F64 = torch.float64
IN, ACT, B = 5, 3, 64


def hand_critic(critic: TwinCritic, x: torch.Tensor, k: int) -> torch.Tensor:
    """Member ``k`` as an ordinary ReLU MLP from its own weight slices."""
    h = x
    for i, layer in enumerate(critic.layers):
        h = h @ layer.weight[k] + layer.bias[k, 0]
        if i < len(critic.layers) - 1:
            h = torch.relu(h)
    return h[:, 0]


def test_twin_critic_is_two_independent_mlps():
    torch.manual_seed(0)
    critic = TwinCritic(IN, (16, 8)).double()
    x = torch.randn(B, IN, dtype=F64)
    q = critic(x)
    assert q.shape == (2, B)
    for k in range(2):
        torch.testing.assert_close(q[k], hand_critic(critic, x, k), rtol=1e-12, atol=1e-12)
    assert (q[0] - q[1]).abs().max() > 1e-3  # independently initialised members
    # nn.Linear's default init per member: U(±1/sqrt(fan_in)) for weights and biases.
    for layer in critic.layers:
        bound = 1 / math.sqrt(layer.weight.shape[1])
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    # Member 1's output does not depend on member 0's weights.
    with torch.no_grad():
        critic.layers[0].weight[0].add_(1.0)
    q2 = critic(x)
    assert torch.equal(q2[1], q[1]) and not torch.equal(q2[0], q[0])


def test_twin_critic_gradients_equal_the_hand_mlps():
    """The Q head is a multiply-and-sum, not a matmul: its gradients must still be the MLP's."""
    torch.manual_seed(0)
    critic = TwinCritic(IN, (16, 8)).double()
    x = torch.randn(B, IN, dtype=F64, requires_grad=True)
    w = torch.randn(2, B, dtype=F64)
    (critic(x) * w).sum().backward()
    fused = [p.grad.clone() for p in critic.parameters()]
    fused_x = x.grad.clone()
    critic.zero_grad()
    x.grad = None
    sum(hand_critic(critic, x, k) @ w[k] for k in range(2)).backward()
    for g, p in zip(fused, critic.parameters()):
        assert g.abs().max() > 0
        assert g.stride() == p.stride()  # DDP's gradient buckets copy (and warn) otherwise
        torch.testing.assert_close(g, p.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused_x, x.grad, rtol=1e-12, atol=1e-12)


def test_twin_critic_detached_params_same_value_no_weight_gradient():
    torch.manual_seed(0)
    critic = TwinCritic(IN, (8,)).double()
    x = torch.randn(B, IN, dtype=F64, requires_grad=True)
    q = critic(x, detach_params=True)
    torch.testing.assert_close(q, critic(x), rtol=0, atol=0)
    q.sum().backward()
    assert all(p.grad is None for p in critic.parameters())
    assert x.grad is not None and x.grad.abs().max() > 0


def reference_log_prob(actor: TanhGaussianActor, x: torch.Tensor, seed: int):
    """Draw u like the actor, then Normal(μ, σ).log_prob(u) − log(1 − tanh(u)²)."""
    mean, log_std = actor.net(x).chunk(2, dim=-1)
    std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
    torch.manual_seed(seed)
    u = mean + std * torch.randn_like(mean)
    log_prob = Normal(mean, std).log_prob(u).sum(-1) - torch.log(1 - torch.tanh(u) ** 2).sum(-1)
    return torch.tanh(u), log_prob


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
    torch.manual_seed(0)
    actor = TanhGaussianActor(IN, ACT, (16, 16)).double()
    x = torch.randn(B, IN, dtype=F64)
    torch.manual_seed(123)
    action, log_prob = actor(x)
    ref_action, ref_log_prob = reference_log_prob(actor, x, 123)
    assert action.shape == (B, ACT) and log_prob.shape == (B,)
    torch.testing.assert_close(action, ref_action, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_prob, ref_log_prob, rtol=1e-5, atol=1e-5)
    assert (action.abs() < 1).all()


def test_log_prob_gradients_equal_the_reference():
    """Writing (u − μ)/σ as ε drops a division but must keep the reparameterised gradients."""
    torch.manual_seed(0)
    actor = TanhGaussianActor(IN, ACT, (16, 16)).double()
    x = torch.randn(B, IN, dtype=F64)

    def grads(fn) -> list[torch.Tensor]:
        actor.zero_grad()
        action, log_prob = fn()
        (0.3 * log_prob.sum() - action.pow(2).sum()).backward()
        return [p.grad.clone() for p in actor.parameters()]

    torch.manual_seed(7)
    ours = grads(lambda: actor(x))
    ref = grads(lambda: reference_log_prob(actor, x, 7))
    for g, r in zip(ours, ref):
        assert r.abs().max() > 0
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-10)


def test_deterministic_action_is_tanh_of_the_mean():
    torch.manual_seed(0)
    actor = TanhGaussianActor(IN, ACT, (16,)).double()
    x = torch.randn(B, IN, dtype=F64)
    action, log_prob = actor(x, deterministic=True)
    mean, log_std = actor.net(x).chunk(2, dim=-1)
    std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
    torch.testing.assert_close(action, torch.tanh(mean), rtol=0, atol=1e-15)
    ref = Normal(mean, std).log_prob(mean).sum(-1) - torch.log(1 - torch.tanh(mean) ** 2).sum(-1)
    torch.testing.assert_close(log_prob, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("raw", "clamped"), [(50.0, LOG_STD_MAX), (-80.0, LOG_STD_MIN)])
def test_log_std_is_clamped(raw, clamped):
    assert (LOG_STD_MIN, LOG_STD_MAX) == (-20.0, 2.0)
    actor = TanhGaussianActor(IN, 2, (4,)).double()
    with torch.no_grad():
        last = actor.net[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.0, raw, raw], dtype=F64))  # mean 0, log-std raw
    x = torch.randn(7, IN, dtype=F64)
    # At u = 0 the tanh correction is 0: log π = Σ(−log σ − ½ log 2π) with the clamped σ.
    _, log_prob = actor(x, deterministic=True)
    torch.testing.assert_close(
        log_prob, torch.full((7,), 2 * (-clamped - 0.5 * math.log(2 * math.pi)), dtype=F64)
    )
    torch.manual_seed(5)
    action, _ = actor(x)
    torch.manual_seed(5)
    eps = torch.randn(7, 2, dtype=F64)
    torch.testing.assert_close(action, torch.tanh(math.exp(clamped) * eps), rtol=1e-12, atol=1e-300)
