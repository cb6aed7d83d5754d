"""The inner loop and the second-order meta-gradient of model identification (spec §3).

The vectorised meta-update is checked against a plain per-task loop and against central
finite differences of the whole outer loss (inner loop included), in float64.
"""

from __future__ import annotations

import pytest
import torch

from mier_pl.data.batch import MetaBatch, TransitionBatch
from mier_pl.functional.inner_loop import adapt_context, clip_rows
from mier_pl.modules.meta_model import DynamicsConfig, MetaModelModule

OBS, ACT, CTX, TASKS, N = 2, 2, 3, 3, 16
LARGE_CLIP = 1e6
# A large inner lr makes the second-order terms big enough to tell first order apart.
INNER_LR = 0.3


def random_batch(gen: torch.Generator) -> TransitionBatch:
    obs = torch.randn(TASKS, N, OBS, generator=gen, dtype=torch.float64)
    offset = torch.tensor([-1.0, 0.2, 2.0], dtype=torch.float64)  # tasks differ in reward
    return TransitionBatch(
        obs=obs,
        act=torch.rand(TASKS, N, ACT, generator=gen, dtype=torch.float64) * 2 - 1,
        rew=torch.randn(TASKS, N, generator=gen, dtype=torch.float64) + offset[:, None],
        next_obs=obs + 0.3 * torch.randn(TASKS, N, OBS, generator=gen, dtype=torch.float64),
        terminated=torch.zeros(TASKS, N, dtype=torch.float64),
        truncated=torch.zeros(TASKS, N, dtype=torch.float64),
    )


def meta_batch(seed: int = 0) -> MetaBatch:
    gen = torch.Generator().manual_seed(seed)
    return MetaBatch(torch.arange(TASKS), random_batch(gen), random_batch(gen))


def make_module(models: str, clip: float, **overrides) -> MetaModelModule:
    torch.manual_seed(0)
    cfg = DynamicsConfig(
        context_dim=CTX,
        hidden=8,
        layers=2,
        models=models,
        inner_lr=INNER_LR,
        inner_grad_clip=clip,
        **overrides,
    )
    return MetaModelModule(OBS, ACT, dynamics=cfg).double()


def first_step_norms(module: MetaModelModule, batch: MetaBatch) -> torch.Tensor:
    ctx = torch.zeros(TASKS, CTX, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(module.model.adapt_loss(batch.support, ctx).sum(), ctx)
    return g.norm(dim=-1)


def small_clip(module: MetaModelModule, batch: MetaBatch) -> float:
    """A clip between the tasks' first-step gradient norms: some tasks clipped, some not."""
    norms = first_step_norms(module, batch)
    assert norms.max() > 1.05 * norms.min(), norms
    return float(norms.max() + norms.min()) / 2


def loop_outer_loss(module: MetaModelModule, batch: MetaBatch) -> tuple[torch.Tensor, list[bool]]:
    """Reference: one task at a time, plain autograd.grad(create_graph=True) and an if-clip."""
    cfg, model = module.cfg, module.model
    losses, clipped = [], []
    for i in range(batch.support.rew.shape[0]):
        support, query = batch.support[i : i + 1], batch.query[i : i + 1]
        ctx = module.prior
        if not ctx.requires_grad:
            ctx = ctx.detach().clone().requires_grad_(True)
        for _ in range(cfg.inner_steps):
            parts = model.losses(support, ctx)
            inner = parts.reward if model.separate else parts.reward + parts.state
            (g,) = torch.autograd.grad(inner.sum(), ctx, create_graph=True)
            norm = g.norm()
            clipped.append(bool(norm > cfg.inner_grad_clip))
            if norm > cfg.inner_grad_clip:
                g = g * (cfg.inner_grad_clip / norm)
            ctx = ctx - cfg.inner_lr * g
        post = model.losses(query, ctx)
        losses.append((post.reward + post.state).sum())
    return torch.stack(losses).mean(), clipped


# ------------------------------------------------------------ (a) vectorised == loop
@pytest.mark.parametrize(
    ("models", "clip", "learn_prior"),
    [
        ("joint", "large", False),
        ("joint", "small", False),
        ("separate", "large", False),
        ("separate", "small", False),
        ("joint", "small", True),
    ],
)
def test_meta_gradient_equals_per_task_loop(models, clip, learn_prior):
    batch = meta_batch()
    module = make_module(models, LARGE_CLIP, learn_prior=learn_prior)
    if clip == "small":
        module.cfg.inner_grad_clip = small_clip(module, batch)
    params = dict(module.named_parameters())
    assert ("prior" in params) == learn_prior

    loss, _, adapted = module.meta_update(batch, diagnostics=False)
    grads = torch.autograd.grad(loss, list(params.values()))
    ref_loss, clipped = loop_outer_loss(module, batch)
    ref_grads = torch.autograd.grad(ref_loss, list(params.values()))

    if clip == "small":
        assert any(clipped) and not all(clipped), clipped
    else:
        assert not any(clipped)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-12)
    for name, g, ref in zip(params, grads, ref_grads):
        assert ref.abs().max() > 0, name
        torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-8, msg=lambda m, n=name: f"{n}: {m}")
    assert adapted.shape == (TASKS, CTX) and not adapted.requires_grad


# -------------------------------------------------------- (b) finite differences
@pytest.mark.parametrize(
    ("models", "learn_prior"), [("joint", False), ("separate", False), ("joint", True)]
)
def test_meta_gradient_matches_finite_differences(models, learn_prior):
    batch = meta_batch(1)
    module = make_module(models, LARGE_CLIP, learn_prior=learn_prior)
    module.cfg.inner_grad_clip = small_clip(module, batch)  # differentiate through the clip too
    params = dict(module.named_parameters())
    loss = module.meta_update(batch, diagnostics=False)[0]
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))

    eps = 1e-6
    checked = 0
    for name, p in params.items():
        flat_grad = grads[name].reshape(-1)
        # the entry with the largest gradient, and the first entry
        for i in sorted({int(flat_grad.abs().argmax()), 0}):
            flat = p.data.view(-1)
            orig = float(flat[i])
            flat[i] = orig + eps
            plus = module.meta_update(batch, diagnostics=False)[0].item()
            flat[i] = orig - eps
            minus = module.meta_update(batch, diagnostics=False)[0].item()
            flat[i] = orig
            fd = (plus - minus) / (2 * eps)
            assert float(flat_grad[i]) == pytest.approx(fd, rel=1e-4, abs=1e-9), (name, i)
            checked += 1
    assert checked > len(params)  # every tensor, most at two entries


# ------------------------------------------------------------- (c) first order
@pytest.mark.parametrize("models", ["joint", "separate"])
def test_first_order_gives_a_different_gradient(models):
    batch = meta_batch(2)
    second = make_module(models, LARGE_CLIP)
    first = make_module(models, LARGE_CLIP, first_order=True)
    loss2, _, adapted2 = second.meta_update(batch, diagnostics=False)
    loss1, _, adapted1 = first.meta_update(batch, diagnostics=False)
    # Same forward: the loss and φ_T agree; only the gradient drops the second-order terms.
    torch.testing.assert_close(loss1, loss2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(adapted1, adapted2, rtol=1e-12, atol=1e-12)
    g2 = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss2, list(second.parameters()))])
    g1 = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss1, list(first.parameters()))])
    assert (g1 - g2).abs().max() > 1e-3 * g2.abs().max()

    # First-order MAML: the query loss's gradient at the adapted context, held constant.
    frozen = first.model.losses(batch.query, adapted1).total().mean()
    g_frozen = torch.autograd.grad(frozen, list(first.parameters()))
    torch.testing.assert_close(
        g1, torch.cat([g.reshape(-1) for g in g_frozen]), rtol=1e-10, atol=1e-12
    )


# ------------------------------------------------------------------ (d) clip_rows
def test_clip_rows_scales_long_rows_to_exactly_max_and_leaves_short_rows():
    g = torch.tensor(
        [[3.0, 4.0, 0.0], [0.3, 0.4, 0.0], [0.0, 0.0, 0.0], [-6.0, 0.0, 8.0], [0.6, 0.0, 0.8]],
        dtype=torch.float64,
    )
    out = clip_rows(g, 1.0)
    torch.testing.assert_close(out[0], torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64))
    torch.testing.assert_close(out[3], torch.tensor([-0.6, 0.0, 0.8], dtype=torch.float64))
    norms = torch.linalg.vector_norm(out, dim=-1)
    assert norms[0].item() == pytest.approx(1.0, abs=1e-15)
    assert norms[3].item() == pytest.approx(1.0, abs=1e-15)
    for row in (1, 2, 4):  # below (or at) the max: bit-identical
        assert torch.equal(out[row], g[row])
    # Leading dims are batch dims: rows are the last dim.
    stacked = torch.stack([g, 2 * g])
    torch.testing.assert_close(clip_rows(stacked, 1.0)[0], out)
    torch.testing.assert_close(clip_rows(stacked, 1.0)[1, 0], out[0])


def test_clip_rows_gradient_matches_finite_differences_and_the_projection():
    max_norm = 2.0
    g = torch.tensor([[3.0, -1.0, 2.0], [0.5, 0.2, -0.1]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[0.7, 1.3, -0.4], [1.1, -2.0, 0.3]], dtype=torch.float64)

    def f(x: torch.Tensor) -> torch.Tensor:
        return (w * clip_rows(x, max_norm)).sum()

    (grad,) = torch.autograd.grad(f(g), g)
    eps = 1e-6
    fd = torch.zeros_like(g)
    with torch.no_grad():
        for i in range(2):
            for j in range(3):
                e = torch.zeros_like(g)
                e[i, j] = eps
                fd[i, j] = (f(g + e) - f(g - e)) / (2 * eps)
    torch.testing.assert_close(grad, fd, rtol=1e-7, atol=1e-9)
    # Clipped row: Jacobian (max/‖g‖)(I − ĝĝᵀ), symmetric. Unclipped row: identity.
    g0 = g[0].detach()
    unit = g0 / g0.norm()
    jac = max_norm / g0.norm() * (torch.eye(3, dtype=torch.float64) - torch.outer(unit, unit))
    torch.testing.assert_close(grad[0], jac @ w[0], rtol=1e-12, atol=1e-12)
    assert torch.equal(grad[1], w[1])


# ------------------------------------------------------- (e) adapt_context closed form
def quadratic(target: torch.Tensor):
    return lambda c: ((c - target) ** 2).sum(-1)


def test_adapt_context_on_a_quadratic_is_the_closed_form():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    c0 = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    c0_copy = c0.clone()
    # ∇ = 2(c − t), so each step multiplies (c − t) by (1 − 2·lr).
    out = adapt_context(quadratic(target), c0, [0.01, 0.01], max_grad_norm=LARGE_CLIP)
    torch.testing.assert_close(out, target + 0.98**2 * (c0 - target), rtol=0, atol=1e-14)
    assert torch.equal(c0, c0_copy)  # the start is not modified in place
    # The test-time schedule (spec §6): 0.01, 0.01, then 0.001.
    out3 = adapt_context(quadratic(target), c0, [0.01, 0.01, 0.001], max_grad_norm=LARGE_CLIP)
    torch.testing.assert_close(out3, target + 0.98**2 * 0.998 * (c0 - target), rtol=0, atol=1e-14)


def test_adapt_context_clipped_steps_move_exactly_lr_times_max():
    target = torch.tensor([[60.0, 80.0, 0.0], [0.0, 0.0, -100.0]], dtype=torch.float64)
    c0 = torch.zeros(2, 3, dtype=torch.float64)
    # ‖∇‖ = 2‖c − t‖ = 200 > 10 at both steps: each step is 0.01·10 along (t − c)/‖t − c‖.
    out = adapt_context(quadratic(target), c0, [0.01, 0.01], max_grad_norm=10.0)
    unit = target / target.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(out, 2 * 0.01 * 10.0 * unit, rtol=0, atol=1e-14)


def test_adapt_context_create_graph_differentiates_through_the_steps():
    target = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    c0 = torch.zeros(1, 3, dtype=torch.float64)
    out = adapt_context(quadratic(target), c0, [0.01, 0.01], LARGE_CLIP, create_graph=True)
    (d_target,) = torch.autograd.grad(out.sum(), target)
    # out = t + 0.98²(c0 − t) → ∂out/∂t = 1 − 0.98² per entry.
    torch.testing.assert_close(d_target, torch.full((1, 3), 1 - 0.98**2, dtype=torch.float64))
    # Without create_graph the result no longer depends on the loss's other inputs.
    out_fo = adapt_context(quadratic(target), c0, [0.01, 0.01], LARGE_CLIP, create_graph=False)
    assert torch.autograd.grad(out_fo.sum(), target, allow_unused=True) == (None,)


# -------------------------------------------------------------- (f) learned prior
def test_learned_prior_gets_a_nonzero_gradient():
    batch = meta_batch(3)
    module = make_module("joint", LARGE_CLIP, learn_prior=True)
    assert isinstance(module.prior, torch.nn.Parameter)
    assert "prior" not in dict(module.named_buffers())
    loss = module.meta_update(batch, diagnostics=False)[0]
    loss.backward()
    grad = module.prior.grad
    assert grad is not None and grad.shape == (1, CTX)
    assert torch.isfinite(grad).all() and grad.abs().max() > 1e-6


def test_fixed_prior_is_a_zero_buffer_without_gradient():
    batch = meta_batch(3)
    module = make_module("joint", LARGE_CLIP)
    assert "prior" in dict(module.named_buffers())
    assert all(p is not module.prior for p in module.parameters())
    assert not module.prior.requires_grad
    opt = module.configure_optimizers()
    assert all(p is not module.prior for group in opt.param_groups for p in group["params"])
    loss = module.meta_update(batch, diagnostics=False)[0]
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert module.prior.grad is None
    assert torch.equal(module.prior, torch.zeros(1, CTX, dtype=torch.float64))


def test_adapt_is_first_order_detached_and_matches_the_meta_update_context():
    batch = meta_batch(4)
    module = make_module("joint", LARGE_CLIP)
    adapted = module.adapt(batch.support)
    _, _, meta_adapted = module.meta_update(batch, diagnostics=False)
    assert not adapted.requires_grad
    torch.testing.assert_close(adapted, meta_adapted, rtol=1e-12, atol=1e-12)
    # Explicit lrs are honoured: zero steps return the prior.
    assert torch.equal(
        module.adapt(batch.support, lrs=[]), torch.zeros(TASKS, CTX, dtype=torch.float64)
    )
