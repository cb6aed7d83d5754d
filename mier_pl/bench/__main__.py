"""``python -m mier_pl.bench``: hot-path speed as ratios against a limit measured in the same run.

Figures (each next to its own reference, measured in this process):
  collection   env steps/s of lockstep collection (5 tasks, batched policy, stored) vs raw mj_step
  meta_update  MetaModelModule.meta_update + Adam step vs a bare torch.func loop of the same maths
  sac_update   ContextSACModule.update vs a bare PyTorch loop of the same networks and losses
  memory       bytes of a full-size ant-negated-joints replay (35 tasks, 600 × 5000 + exploration)
Writes benchmarks/results.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import mujoco
import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from mier_pl.data.algorithm import collect_epoch
from mier_pl.data.batch import MetaBatch, TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.modules import ContextSACModule, DynamicsConfig, MetaModelModule, SACConfig


def _rate(fn: Callable[[], None], seconds: float, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def _optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _random_batch(tasks: int, n: int, obs: int, act: int, device) -> TransitionBatch:
    g = torch.Generator().manual_seed(0)
    return TransitionBatch(
        obs=torch.randn(tasks, n, obs, generator=g),
        act=torch.rand(tasks, n, act, generator=g) * 2 - 1,
        rew=torch.randn(tasks, n, generator=g),
        next_obs=torch.randn(tasks, n, obs, generator=g),
        terminated=torch.zeros(tasks, n),
        truncated=torch.zeros(tasks, n),
    ).to(device)


def bench_collection(family: str, seconds: float) -> dict:
    collector = Collector(family, None, seed=0)
    replay = MultiTaskReplay(
        len(collector.train_tasks),
        collector.envs[0].observation_space.shape[0],
        collector.envs[0].action_space.shape[0],
        200_000,
    )
    sac = ContextSACModule(replay.obs_dim, replay.act_dim, 5, SACConfig(hidden=(256, 256)))
    prior = torch.zeros(1, 5)

    def epoch_slice() -> None:  # 5 tasks in lockstep: P = 400 with φ₀, no adaptation cost here
        collect_epoch(
            collector,
            replay,
            [0, 1, 2, 3, 4],
            sac.act,
            prior,
            lambda b: prior.expand(5, -1),
            400,
            0,
        )

    rate = _rate(epoch_slice, seconds, warmup=1) * 5 * 400
    env = collector.envs[0]
    model, data = env.model, mujoco.MjData(env.model)
    steps = 2000
    t0 = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(model, data, nstep=env.frame_skip)
    raw = steps / (time.perf_counter() - t0)
    return {
        "figure": f"collection {family}",
        "ours": rate,
        "limit": raw,
        "ratio": rate / raw,
        "unit": "env steps/s",
        "target": ">= 0.5",
    }


def bench_meta_update(seconds: float, device) -> dict:
    """cheetah-negated-joints settings: 10 tasks × 400, context 10, obs 20, act 6."""
    obs, act, ctx = 20, 6, 10
    module = MetaModelModule(obs, act, False, DynamicsConfig(context_dim=ctx)).to(device)
    opt = module.configure_optimizers()
    batch = MetaBatch(
        torch.arange(10),
        _random_batch(10, 400, obs, act, device),
        _random_batch(10, 400, obs, act, device),
    )

    def ours() -> None:
        loss, _, _ = module.meta_update(batch, diagnostics=False)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
        opt.step()

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

    r_ours, r_bare = _rate(ours, seconds), _rate(bare, seconds)
    return {
        "figure": "meta-update (10 × 400, ctx 10)",
        "ours": r_ours,
        "limit": r_bare,
        "ratio": r_ours / r_bare,
        "unit": "updates/s",
        "target": ">= 0.9",
    }


def bench_sac_update(
    seconds: float, device, obs: int = 27, act: int = 8, ctx: int = 5, n: int = 2000
) -> dict:
    """Default: ant-negated-joints SAC, 256-256, batch 10 × 200, obs 27, act 8, context 5."""
    sac = ContextSACModule(obs, act, ctx, SACConfig(hidden=(256, 256))).to(device)
    opts = sac.configure_optimizers()
    batch = _random_batch(1, n, obs, act, device).flatten()
    context = torch.randn(n, ctx, device=device)

    def ours() -> None:
        sac.update(batch, context, opts, _optimize)

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
        m, ls = actor(x).chunk(2, -1)
        ls = ls.clamp(-20, 2)
        u = m + ls.exp() * torch.randn_like(m)
        lp = (-0.5 * ((u - m) / ls.exp()) ** 2 - ls - 0.9189385).sum(-1)
        lp = lp - (2 * (0.6931472 - u - torch.nn.functional.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), lp

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
        with torch.no_grad():
            for t, q in ((t1, q1), (t2, q2)):
                for pt, pq in zip(t.parameters(), q.parameters()):
                    pt.lerp_(pq, 0.005)

    r_ours, r_bare = _rate(ours, seconds), _rate(bare, seconds)
    return {
        "figure": f"SAC update (256², batch {n})",
        "ours": r_ours,
        "limit": r_bare,
        "ratio": r_ours / r_bare,
        "unit": "updates/s",
        "target": ">= 0.9",
    }


def bench_sac_peer(seconds: float, device) -> dict:
    """Plain SAC of the same size as Stable-Baselines3's (256-256, batch 256, no context):
    our ContextSACModule.update with context_dim 0 vs SB3's ``SAC.train`` gradient steps/s."""
    try:
        from stable_baselines3 import SAC
    except ImportError:
        return {
            "figure": "SAC peer (SB3)",
            "ours": float("nan"),
            "limit": float("nan"),
            "ratio": float("nan"),
            "unit": "updates/s",
            "target": "skipped: pip install 'mier-pl[bench]'",
        }
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
    r_peer = _rate(lambda: peer.train(gradient_steps=10, batch_size=n), seconds) * 10

    sac = ContextSACModule(obs, act, 0, SACConfig(hidden=(256, 256))).to(device)
    opts = sac.configure_optimizers()
    replay = MultiTaskReplay(1, obs, act, 10_000, device)
    replay.add([0], _random_batch(1, 5000, obs, act, "cpu"), pre_adapt=True)
    empty_ctx = torch.zeros(n, 0, device=device)
    task = torch.zeros(1, dtype=torch.long, device=device)

    def ours() -> None:  # sampling included, as SB3's train() samples its buffer
        sac.update(replay.sample(task, n).flatten(), empty_ctx, opts, _optimize)

    r_ours = _rate(ours, seconds)
    return {
        "figure": "SAC peer: plain SAC 256², batch 256 vs SB3",
        "ours": r_ours,
        "limit": r_peer,
        "ratio": r_ours / r_peer,
        "unit": "updates/s",
        "target": ">= 1.3",
    }


def bench_epoch(steps: int, seconds: float, device) -> dict:
    """One Lightning epoch of conf/cheetah_neg.yaml (5 tasks × (400 + 600) collected steps and
    ``steps`` training steps, eval off, checkpoint on) vs the sum of bare parts: raw mj_step for
    5000 env steps plus 1000 batched policy forwards, and ``steps`` bare meta-updates and SAC
    updates of the same sizes (from the bare loops above)."""
    import os
    import tempfile

    from mier_pl.cli import main as cli_main

    conf = Path(__file__).resolve().parents[2] / "conf" / "cheetah_neg.yaml"
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            times = []
            for epochs in (1, 2):
                t0 = time.perf_counter()
                cli_main(
                    [
                        "fit",
                        "--config",
                        str(conf),
                        "--trainer.max_epochs",
                        str(epochs),
                        "--data.steps_per_epoch",
                        str(steps),
                        "--model.init_args.collect.initial_exploration_repeats",
                        "1",
                        "--model.init_args.eval.interval",
                        "0",
                        "--trainer.enable_progress_bar",
                        "false",
                        "--trainer.enable_model_summary",
                        "false",
                        "--trainer.accelerator",
                        device.type,
                    ]
                )
                times.append(time.perf_counter() - t0)
        finally:
            os.chdir(cwd)
    epoch = times[1] - times[0]  # the second run's extra epoch: start-up and exploration cancel
    collector = Collector("cheetah-negated-joints", None, seed=0)
    env = collector.envs[0]
    data = mujoco.MjData(env.model)
    sac = ContextSACModule(20, 6, 10, SACConfig(hidden=(256, 256))).to(device)
    x = torch.zeros(5, 30, device=device)
    t0 = time.perf_counter()
    for _ in range(5000):
        mujoco.mj_step(env.model, data, nstep=env.frame_skip)
    for _ in range(1000):
        sac.actor.act(x)
    bare_collect = time.perf_counter() - t0
    meta = bench_meta_update(seconds, device)
    sac_rate = bench_sac_update(seconds, device, obs=20, act=6, ctx=10, n=4000)
    bare = bare_collect + steps / meta["limit"] + steps / sac_rate["limit"]
    return {
        "figure": f"whole epoch cheetah_neg ({steps} steps)",
        "ours": epoch,
        "limit": bare,
        "ratio": epoch / bare,
        "unit": "s",
        "target": "<= 1.15",
    }


def bench_relabel(seconds: float, device) -> dict:
    """100 000 synthetic transitions for ant-negated-joints (obs 27, act 8, ctx 5, joint model,
    policy 256²): rollout relabeling vs a bare batched forward of the same policy and model."""
    from mier_pl.envs.ant import AntNegatedJointsEnv
    from mier_pl.functional.relabel import reward_relabel, rollout_relabel

    obs_dim, act_dim, ctx, n = 27, 8, 5, 100_000
    model = (
        MetaModelModule(obs_dim, act_dim, False, DynamicsConfig(context_dim=ctx)).to(device).model
    )
    sac = ContextSACModule(obs_dim, act_dim, ctx, SACConfig(hidden=(256, 256))).to(device)
    batch = _random_batch(1, n, obs_dim, act_dim, device).flatten()
    context = torch.zeros(1, ctx, device=device)

    def ours() -> None:
        rollout_relabel(model, sac.act, AntNegatedJointsEnv.termination_fn, batch.obs, context)

    def ours_reward() -> None:
        reward_relabel(model, batch, context)

    @torch.inference_mode()
    def bare() -> None:
        c = context.expand(n, -1)
        a = sac.actor.act(torch.cat([batch.obs, c], -1))
        mean, logvar = model.net(torch.cat([batch.obs, a, c], -1))
        out = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        _ = batch.obs + out[:, 1:]

    r_ours, r_reward, r_bare = (_rate(f, seconds, warmup=1) * n for f in (ours, ours_reward, bare))
    return {
        "figure": "relabeling, 100k transitions (rollout)",
        "ours": r_ours,
        "limit": r_bare,
        "ratio": r_ours / r_bare,
        "unit": "transitions/s",
        "target": ">= 0.8",
        "reward_relabel_per_s": r_reward,
    }


def bench_memory() -> dict:
    """Fill a replay the way conf/ant_neg.yaml does: 35 tasks, 5 × 400 exploration each, then
    600 epochs × 5 tasks drawn with replacement × (400 pre-adapt + 600) transitions."""
    rng = np.random.default_rng(0)
    replay = MultiTaskReplay(35, 27, 8, 1_000_000)
    chunk = {n: _random_batch(1, n, 27, 8, "cpu") for n in (400, 600)}
    for task in range(35):
        for _ in range(5):
            replay.add([task], chunk[400], pre_adapt=True)
    for _ in range(600):
        for task in rng.integers(0, 35, 5):
            replay.add([int(task)], chunk[400], pre_adapt=True)
            replay.add([int(task)], chunk[600], pre_adapt=False)
    held = int(replay.size().sum())
    return {
        "figure": "replay memory (ant_neg, full run)",
        "ours": replay.nbytes() / 2**30,
        "limit": 1.2,
        "ratio": replay.nbytes() / 2**30 / 1.2,
        "unit": "GiB",
        "target": "<= 1.2 GiB",
        "transitions": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--out", default="benchmarks/results.json")
    parser.add_argument(
        "--epoch-steps", type=int, default=50, help="training steps in the epoch figure"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible here; run on a GPU machine")
    device = torch.device(args.device)
    rows = [
        bench_collection("cheetah-negated-joints", args.seconds),
        bench_collection("ant-negated-joints", args.seconds),
        bench_collection("walker-rand-params-ood", args.seconds),
        bench_meta_update(args.seconds, device),
        bench_sac_update(args.seconds, device),
        bench_sac_peer(args.seconds, device),
        bench_relabel(args.seconds, device),
        bench_memory(),
        bench_epoch(args.epoch_steps, args.seconds, device),
    ]
    meta = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"torch {meta['torch']}, mujoco {meta['mujoco']}, {meta['threads']} threads, {device}\n")
    print("| figure | ours | reference | ratio | target |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['figure']} | {r['ours']:.4g} {r['unit']} | {r['limit']:.4g} | {r['ratio']:.2f} | {r['target']} |"
        )


if __name__ == "__main__":
    main()
