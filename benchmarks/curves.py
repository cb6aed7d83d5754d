"""Cost curves (``python -m benchmarks --curves``): how a training step's time and the
replay's memory and sampling time grow with the work, so a run's cost can be predicted.

One setting varies at a time around a base of cheetah-vel's sizes (obs 20, act 6, context 5,
the release's 200 × 4 model, a 200 × 3 SAC, a meta-batch of 10 tasks × A = 200):

- training step (one meta-update with its Adam step, then one SAC update on the query batch)
  against the meta-batch (1 → 40 tasks), A (64 → 1000) and the width of every net (64 → 300);
- the replay against the number of train tasks (10 → 1000, 5 000 transitions each) and the
  transitions held per task (1 000 → 300 000, 10 tasks): bytes held, and the time of one
  meta-batch draw (support from the pre-adapt buffers, query from the full ones).

Writes ``benchmarks/curves.json`` and ``benchmarks/curves.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import optimize, random_batch, rates
from mier_pl.data.batch import MetaBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.modules import ContextSACModule, DynamicsConfig, MetaModelModule, SACConfig

BASE = {"tasks": 10, "A": 200, "width": 200}
OBS, ACT, CTX = 20, 6, 5
SWEEPS = {
    "tasks": [1, 2, 5, 10, 20, 40],
    "A": [64, 128, 200, 400, 700, 1000],
    "width": [64, 128, 200, 300],
}
REPLAY_TASKS = [10, 30, 100, 300, 1000]
REPLAY_FILL = [1_000, 10_000, 30_000, 100_000, 300_000]


def training_step(tasks: int, A: int, width: int, device) -> Callable[[], None]:
    """One MIER training step's maths at these sizes (the model ``width`` × 4, SAC
    ``width`` × 3)."""
    meta = MetaModelModule(OBS, ACT, False, DynamicsConfig(context_dim=CTX, hidden=width))
    meta = meta.to(device)
    sac = ContextSACModule(OBS, ACT, CTX, SACConfig(hidden=(width,) * 3)).to(device)
    model_opt, sac_opts = meta.configure_optimizers(), sac.configure_optimizers()
    batch = MetaBatch(
        torch.arange(tasks, device=device),
        random_batch(tasks, A, OBS, ACT, device),
        random_batch(tasks, A, OBS, ACT, device),
    )
    query = batch.query.flatten()

    def step() -> None:
        loss, _, adapted = meta.meta_update(batch, diagnostics=False)
        optimize(model_opt, loss)
        sac.update(query, adapted.repeat_interleave(A, dim=0), sac_opts)

    return step


def step_curves(seconds: float, device) -> dict[str, list[dict]]:
    """Milliseconds per training step along each of SWEEPS, the others at BASE."""
    curves: dict[str, list[dict]] = {}
    for name, values in SWEEPS.items():
        points = []
        for value in values:
            sizes = {**BASE, name: value}
            (rate,) = rates([training_step(**sizes, device=device)], seconds, device=device)
            points.append({name: value, "ms_per_step": 1000 / rate})
            print(f"  training step, {sizes}: {1000 / rate:.1f} ms", flush=True)
        curves[name] = points
    return curves


def replay_point(tasks: int, fill: int, seconds: float, device) -> dict:
    """A replay of ``tasks`` tasks holding ``fill`` transitions each (half pre-adapt): its
    bytes, and meta-batch draws of min(tasks, 10) tasks × 200 per second."""
    replay = MultiTaskReplay(tasks, OBS, ACT, fill, device)
    chunk = random_batch(1, min(fill // 2, 5_000), OBS, ACT, device)
    for task in range(tasks):
        for pre_adapt in (True, False):
            for _ in range(max(1, fill // 2 // chunk.rew.shape[1])):
                replay.add([task], chunk, pre_adapt=pre_adapt)
    ids = torch.arange(min(tasks, 10), device=device)

    def draw() -> None:
        replay.sample(ids, 200, pre_adapt=True)
        replay.sample(ids, 200)

    (rate,) = rates([draw], seconds, device=device)
    return {
        "tasks": tasks,
        "per_task": fill,
        "transitions": int(replay.size().sum()),
        "gib": replay.nbytes() / 2**30,
        "draw_ms": 1000 / rate,
    }


def replay_curves(seconds: float, device) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"tasks": [], "per_task": []}
    for tasks in REPLAY_TASKS:
        out["tasks"].append(replay_point(tasks, 5_000, seconds, device))
        print(f"  replay, {tasks} tasks × 5000: {out['tasks'][-1]}", flush=True)
    for fill in REPLAY_FILL:
        out["per_task"].append(replay_point(10, fill, seconds, device))
        print(f"  replay, 10 tasks × {fill}: {out['per_task'][-1]}", flush=True)
    return out


def linearity(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line ``y = a + b x`` and the largest relative deviation from it."""
    b, a = np.polyfit(xs, ys, 1)
    fit = a + b * np.asarray(xs)
    worst = float(np.max(np.abs(np.asarray(ys) - fit) / np.asarray(ys)))
    return {"intercept": float(a), "slope": float(b), "max_rel_dev": worst}


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    labels = {"tasks": "meta-batch (tasks)", "A": "A (transitions per task)", "width": "units"}
    for ax, (name, points) in zip(axes, result["step"].items()):
        xs = [p[name] for p in points]
        ax.plot(xs, [p["ms_per_step"] for p in points], "o-")
        ax.set(xlabel=labels[name], ylabel="ms per training step", ylim=(0, None))
        ax.set_title(f"training step vs {name}")
        ax.grid(alpha=0.3)
    for ax, (name, points) in zip(axes[3:], result["replay"].items()):
        xs = [p[name] for p in points]
        held = ax.plot(xs, [p["gib"] for p in points], "o-", color="C1", label="GiB held")
        ax.set(xscale="log", yscale="log", xlabel=name.replace("_", " "), ylabel="GiB held")
        twin = ax.twinx()
        draw = twin.plot(xs, [p["draw_ms"] for p in points], "s--", color="C2", label="ms/draw")
        twin.set(ylabel="ms per meta-batch draw (10 × 200 × 2)", ylim=(0, None))
        ax.set_title(f"replay vs {name.replace('_', ' ')}")
        ax.legend(held + draw, ["GiB held", "ms per draw"], loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run_curves(seconds: float, device, out_dir: str = "benchmarks") -> dict:
    print("cost curves (one setting varied at a time; base: 10 tasks × A 200, 200-unit nets)")
    result = {"base": BASE, "step": step_curves(seconds, device)}
    result["replay"] = replay_curves(seconds, device)
    result["fits"] = {
        name: linearity([p[name] for p in pts], [p["ms_per_step"] for p in pts])
        for name, pts in result["step"].items()
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curves.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "curves.png")
    print(f"wrote {out / 'curves.json'} and {out / 'curves.png'}")
    return result
