"""Training-step figures: meta-update and SAC update against bare loops, SAC against SB3,
and a whole Lightning epoch against the sum of its bare parts."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mujoco
import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, grad, vmap

from benchmarks.common import (
    elapsed,
    random_batch,
    rates,
    row,
    short_fit_args,
    with_precision,
)
from mier_pl.data.batch import MetaBatch, TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.modules import ContextSACModule, DynamicsConfig, MetaModelModule, SACConfig

META_SIZES = {"obs": 20, "act": 6, "ctx": 10}  # cheetah-negated-joints


def meta_update_step(device) -> tuple[Callable[[], None], MetaModelModule, MetaBatch]:
    """Our meta-update at cheetah-negated-joints settings (10 tasks × 400, context 10, obs 20,
    act 6) as a no-argument step, with its module and batch."""
    obs, act, ctx = META_SIZES["obs"], META_SIZES["act"], META_SIZES["ctx"]
    module = MetaModelModule(obs, act, False, DynamicsConfig(context_dim=ctx)).to(device)
    opt = module.configure_optimizers()
    batch = MetaBatch(
        torch.arange(10),
        random_batch(10, 400, obs, act, device),
        random_batch(10, 400, obs, act, device),
    )

    def step() -> None:
        loss, _, _ = module.meta_update(batch, diagnostics=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
        opt.step()

    return step, module, batch


def bench_meta_update(seconds: float, device) -> dict:
    """cheetah-negated-joints settings: 10 tasks × 400, context 10, obs 20, act 6."""
    ours, module, batch = meta_update_step(device)
    ctx = META_SIZES["ctx"]

    # The bare reference: the same network and loss, torch.func over tasks, written here.
    net = module.model.net
    params = {k: v.detach().clone().requires_grad_() for k, v in net.named_parameters()}
    bare_opt = torch.optim.Adam(params.values(), lr=1e-3)

    def task_loss(p, c, o, a, r, o2):
        x = torch.cat([o, a, c.expand(o.shape[0], -1)], -1)
        mean, lv = functional_call(net, p, (x,))
        y = torch.cat([r.unsqueeze(-1), o2 - o], -1)
        fit = (mean - y) ** 2 * torch.exp(-lv)
        reg = 0.01 * (p["max_logvar"] - p["min_logvar"])
        return (
            fit[:, :1].mean()
            + lv[:, :1].mean()
            + reg[:1].sum()
            + fit[:, 1:].mean()
            + lv[:, 1:].mean()
            + reg[1:].sum()
        )

    def adapted_loss(p, s, q):
        c = torch.zeros(ctx, device=device)
        for _ in range(2):
            g = grad(task_loss, argnums=1)(p, c, *s)
            c = c - 0.01 * g * (10.0 / torch.clamp(g.norm(), min=10.0))
        return task_loss(p, c, *q)

    s = (batch.support.obs, batch.support.act, batch.support.rew, batch.support.next_obs)
    q = (batch.query.obs, batch.query.act, batch.query.rew, batch.query.next_obs)

    def bare() -> None:
        loss = vmap(adapted_loss, in_dims=(None, 0, 0))(params, s, q).mean()
        bare_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 10.0)
        bare_opt.step()

    r_ours, r_bare = rates([ours, bare], seconds, device=device)
    return row("meta-update (10 × 400, ctx 10)", r_ours, r_bare, "updates/s", ">= 0.9")


def bare_tanh_gaussian(actor: torch.nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """The bare loops' tanh-Gaussian policy sample and its log-probability, written out."""
    m, ls = actor(x).chunk(2, -1)
    ls = ls.clamp(-20, 2)
    u = m + ls.exp() * torch.randn_like(m)
    lp = (-0.5 * ((u - m) / ls.exp()) ** 2 - ls - 0.9189385).sum(-1)
    lp = lp - (2 * (0.6931472 - u - torch.nn.functional.softplus(-2 * u))).sum(-1)
    return torch.tanh(u), lp


@torch.no_grad()
def bare_polyak(pairs, tau: float) -> None:
    """The bare loops' target update: each (target, source) pair's parameters move by ``tau``."""
    for target, source in pairs:
        for pt, pq in zip(target.parameters(), source.parameters()):
            pt.lerp_(pq, tau)


def sac_update_step(
    device,
    obs: int = 27,
    act: int = 8,
    ctx: int = 5,
    n: int = 2000,
    prepare: Callable[[ContextSACModule], None] | None = None,
) -> tuple[Callable[[], None], TransitionBatch, Tensor]:
    """Our SAC update (256-256, batch ``n``; default ant-negated-joints sizes) as a
    no-argument step, with its batch and contexts; ``prepare`` may alter the module first."""
    sac = ContextSACModule(obs, act, ctx, SACConfig(hidden=(256, 256))).to(device)
    if prepare is not None:
        prepare(sac)
    opts = sac.configure_optimizers()
    batch = random_batch(1, n, obs, act, device).flatten()
    context = torch.randn(n, ctx, device=device)
    return (lambda: sac.update(batch, context, opts)), batch, context


def bench_sac_update(
    seconds: float, device, obs: int = 27, act: int = 8, ctx: int = 5, n: int = 2000
) -> dict:
    """Default: ant-negated-joints SAC, 256-256, batch 10 × 200, obs 27, act 8, context 5."""
    ours, batch, context = sac_update_step(device, obs, act, ctx, n)

    # Bare loop: two separate critics as plain nn.Sequential, the same losses inline.
    def mlp(i, o):
        return torch.nn.Sequential(
            torch.nn.Linear(i, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, o),
        ).to(device)

    actor, q1, q2 = mlp(obs + ctx, 2 * act), mlp(obs + ctx + act, 1), mlp(obs + ctx + act, 1)
    t1, t2 = mlp(obs + ctx + act, 1), mlp(obs + ctx + act, 1)
    t1.load_state_dict(q1.state_dict())
    t2.load_state_dict(q2.state_dict())
    log_alpha = torch.zeros((), device=device, requires_grad=True)
    qo = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=3e-4)
    ao = torch.optim.Adam(actor.parameters(), lr=3e-4)
    alo = torch.optim.Adam([log_alpha], lr=3e-4)

    def pi(x):
        return bare_tanh_gaussian(actor, x)

    s = torch.cat([batch.obs, context], -1)
    s2 = torch.cat([batch.next_obs, context], -1)

    def bare() -> None:
        with torch.no_grad():
            a2, lp2 = pi(s2)
            x2 = torch.cat([s2, a2], -1)
            tq = torch.min(t1(x2), t2(x2)).squeeze(-1) - log_alpha.exp() * lp2
            y = batch.rew + 0.99 * (1 - batch.terminated) * tq
        x = torch.cat([s, batch.act], -1)
        ql = (
            0.5 * ((q1(x).squeeze(-1) - y) ** 2).mean()
            + 0.5 * ((q2(x).squeeze(-1) - y) ** 2).mean()
        )
        qo.zero_grad(set_to_none=True)
        ql.backward()
        qo.step()
        a, lp = pi(s)
        xa = torch.cat([s, a], -1)
        for p in [*q1.parameters(), *q2.parameters()]:
            p.requires_grad_(False)
        al = (log_alpha.detach().exp() * lp - torch.min(q1(xa), q2(xa)).squeeze(-1)).mean()
        for p in [*q1.parameters(), *q2.parameters()]:
            p.requires_grad_(True)
        ao.zero_grad(set_to_none=True)
        al.backward()
        ao.step()
        alpha_loss = -(log_alpha * (lp.detach() - 1.0)).mean()
        alo.zero_grad(set_to_none=True)
        alpha_loss.backward()
        alo.step()
        bare_polyak(((t1, q1), (t2, q2)), 0.005)

    r_ours, r_bare = rates([ours, bare], seconds, device=device)
    return row(f"SAC update (256², batch {n})", r_ours, r_bare, "updates/s", ">= 0.9")


def bench_sac_peer(
    seconds: float, device, precisions: tuple[str, ...] = ("highest",)
) -> list[dict]:
    """Plain SAC of the same size as Stable-Baselines3's (256-256, batch 256, no context):
    our ContextSACModule.update with context_dim 0 vs SB3's ``SAC.train`` gradient steps/s,
    one row per float32 matmul precision (both sides under the same setting)."""
    try:
        from stable_baselines3 import SAC
    except ImportError:
        skipped = "skipped: pip install 'mier-pl[bench]'"
        return [row("SAC peer (SB3)", float("nan"), float("nan"), "updates/s", skipped)]
    import gymnasium as gym

    obs, act, n = 17, 6, 256
    env = gym.make("mier_pl/WalkerRandParams-v0")
    peer = SAC(
        "MlpPolicy",
        env,
        batch_size=n,
        policy_kwargs={"net_arch": [256, 256]},
        learning_starts=0,
        device=device,
        seed=0,
    )
    rng = np.random.default_rng(0)
    for _ in range(5000):
        o = rng.standard_normal(obs).astype(np.float32)
        peer.replay_buffer.add(
            o,
            o,
            rng.uniform(-1, 1, act).astype(np.float32),
            np.array([0.0]),
            np.array([False]),
            [{}],
        )
    peer._setup_learn(total_timesteps=1, callback=None)

    sac = ContextSACModule(obs, act, 0, SACConfig(hidden=(256, 256))).to(device)
    opts = sac.configure_optimizers()
    replay = MultiTaskReplay(1, obs, act, 10_000, device)
    replay.add([0], random_batch(1, 5000, obs, act, "cpu"), pre_adapt=True)
    empty_ctx = torch.zeros(n, 0, device=device)
    task = torch.zeros(1, dtype=torch.long, device=device)

    def ours() -> None:  # sampling included, as SB3's train() samples its buffer
        sac.update(replay.sample(task, n).flatten(), empty_ctx, opts)

    def peer_steps() -> None:
        peer.train(gradient_steps=10, batch_size=n)

    rows = []
    for precision in precisions:  # with_precision restores the run's setting after each call
        r_ours, r_peer = rates(
            [with_precision(precision, ours), with_precision(precision, peer_steps)],
            seconds,
            device=device,
        )
        setting = "" if precision == "highest" else f", both at --matmul_precision {precision}"
        figure = f"SAC peer: plain SAC 256², batch 256 vs SB3{setting}"
        rows.append(row(figure, r_ours, r_peer * 10, "updates/s", ">= 1.3"))
    return rows


def bench_epoch(steps: int, seconds: float, device) -> dict:
    """One Lightning epoch of conf/cheetah_neg.yaml (5 tasks × (400 + 600) collected steps and
    ``steps`` training steps, eval off, checkpoint on) vs the sum of bare parts: raw mj_step for
    5000 env steps plus 1000 batched policy forwards, and ``steps`` bare meta-updates and SAC
    updates of the same sizes (from the bare loops above)."""
    from mier_pl.cli.main import main as cli_main

    conf = Path(__file__).resolve().parents[1] / "conf" / "cheetah_neg.yaml"
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            times = []
            for epochs in (1, 2):
                t0 = time.perf_counter()
                args = short_fit_args(str(conf), epochs, steps)
                cli_main([*args, "--trainer.accelerator", device.type])
                times.append(time.perf_counter() - t0)
        finally:
            os.chdir(cwd)
    epoch = times[1] - times[0]  # the second run's extra epoch: start-up and exploration cancel
    collector = Collector("cheetah-negated-joints", None, seed=0)
    env = collector.envs[0]
    data = mujoco.MjData(env.model)
    sac = ContextSACModule(20, 6, 10, SACConfig(hidden=(256, 256))).to(device)
    obs, context = torch.zeros(5, 20, device=device), torch.zeros(5, 10, device=device)

    def bare_parts() -> None:
        for _ in range(5000):
            mujoco.mj_step(env.model, data, nstep=env.frame_skip)
        act = sac.policy()  # the actor as collection calls it (a per-phase snapshot)
        for _ in range(1000):
            act(obs, context)

    bare_collect = elapsed(bare_parts, device)
    meta = bench_meta_update(seconds, device)
    sac_rate = bench_sac_update(seconds, device, obs=20, act=6, ctx=10, n=4000)
    bare = bare_collect + steps / meta["limit"] + steps / sac_rate["limit"]
    return row(f"whole epoch cheetah_neg ({steps} steps)", epoch, bare, "s", "<= 1.15")


def bench_pearl_update(
    seconds: float,
    device,
    obs: int = 20,
    act: int = 6,
    tasks: int = 16,
    context: int = 100,
    n: int = 256,
    hidden: tuple[int, ...] = (300, 300, 300),
) -> dict:
    """PEARLModule.update at oyster's cheetah-vel settings (16 tasks × 100 context and × 256
    SAC transitions, encoder 200³, SAC 300³, latent 5; obs 20, act 6) vs a bare PyTorch loop
    of the same maths: encoder, product of Gaussians, KL, twin critics (with the encoder in
    the critic's step), actor and α on z detached, target update."""
    from mier_pl.modules.pearl import PEARLConfig, PEARLModule

    latent, enc_hidden = 5, (200, 200, 200)
    module = PEARLModule(
        obs, act, True, PEARLConfig(latent_dim=latent, hidden=enc_hidden), SACConfig(hidden=hidden)
    ).to(device)
    opts = module.configure_optimizers()
    ctx_batch = random_batch(tasks, context, obs, act, device)
    sac_batch = random_batch(tasks, n, obs, act, device)

    def ours() -> None:
        module.update(ctx_batch, sac_batch, opts)

    def mlp(i, sizes, o):
        layers, d = [], i
        for h in sizes:
            layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
            d = h
        return torch.nn.Sequential(*layers, torch.nn.Linear(d, o)).to(device)

    enc = mlp(obs + act + 1, enc_hidden, 2 * latent)
    actor = mlp(obs + latent, hidden, 2 * act)
    q1, q2 = mlp(obs + latent + act, hidden, 1), mlp(obs + latent + act, hidden, 1)
    t1, t2 = mlp(obs + latent + act, hidden, 1), mlp(obs + latent + act, hidden, 1)
    t1.load_state_dict(q1.state_dict())
    t2.load_state_dict(q2.state_dict())
    log_alpha = torch.zeros((), device=device, requires_grad=True)
    qo = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=3e-4)
    eo = torch.optim.Adam(enc.parameters(), lr=3e-4)
    ao = torch.optim.Adam(actor.parameters(), lr=3e-4)
    alo = torch.optim.Adam([log_alpha], lr=3e-4)
    c_in = torch.cat([ctx_batch.obs, ctx_batch.act, ctx_batch.rew.unsqueeze(-1)], -1)
    flat = sac_batch.flatten()

    def pi(x):
        return bare_tanh_gaussian(actor, x)

    def bare() -> None:
        mu, raw = enc(c_in).chunk(2, -1)
        var = torch.nn.functional.softplus(raw).clamp(min=1e-7)
        post_var = 1.0 / (1.0 / var).sum(1)
        post_mu = post_var * (mu / var).sum(1)
        z = post_mu + post_var.sqrt() * torch.randn_like(post_mu)
        kl = 0.5 * (post_var + post_mu**2 - 1 - post_var.log()).sum()
        zf = z.repeat_interleave(n, 0)
        s = torch.cat([flat.obs, zf], -1)
        s2 = torch.cat([flat.next_obs, zf], -1)
        with torch.no_grad():
            a2, lp2 = pi(s2)
            x2 = torch.cat([s2, a2], -1)
            tq = torch.min(t1(x2), t2(x2)).squeeze(-1) - log_alpha.exp() * lp2
            y = 5.0 * flat.rew + 0.99 * (1 - flat.terminated) * tq
        x = torch.cat([s, flat.act], -1)
        ql = ((q1(x).squeeze(-1) - y) ** 2).mean() + ((q2(x).squeeze(-1) - y) ** 2).mean()
        qo.zero_grad(set_to_none=True)
        eo.zero_grad(set_to_none=True)
        (ql + 0.1 * kl).backward()
        qo.step()
        eo.step()
        sd = s.detach()
        a, lp = pi(sd)
        xa = torch.cat([sd, a], -1)
        for p in [*q1.parameters(), *q2.parameters()]:
            p.requires_grad_(False)
        al = (log_alpha.detach().exp() * lp - torch.min(q1(xa), q2(xa)).squeeze(-1)).mean()
        for p in [*q1.parameters(), *q2.parameters()]:
            p.requires_grad_(True)
        alpha_loss = -(log_alpha * (lp.detach() - 1.0)).mean()
        ao.zero_grad(set_to_none=True)
        alo.zero_grad(set_to_none=True)
        (al + alpha_loss).backward()
        ao.step()
        alo.step()
        bare_polyak(((t1, q1), (t2, q2)), 0.005)

    r_ours, r_bare = rates([ours, bare], seconds, device=device)
    size = "x".join(map(str, hidden))
    figure = f"PEARL update ({tasks} × ({context} + {n}), SAC {size})"
    return row(figure, r_ours, r_bare, "updates/s", ">= 0.9")
