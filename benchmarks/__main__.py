"""``python -m benchmarks``: hot-path speed as ratios against a limit measured in the same run.

Figures (each next to its own reference, measured in this process; code in ``data.py`` and
``updates.py``):
  collection   lockstep collection (5 tasks, batched policy, stored) vs raw mj_step, 3 families
               (and ml1-reach, ml1-pick-place where metaworld is installed: docs/metaworld.md)
  meta-update  MetaModelModule.meta_update + Adam vs a bare torch.func loop of the same maths
  SAC update   ContextSACModule.update vs a bare PyTorch loop of the same networks and losses
  PEARL update PEARLModule.update (encoder, posterior, KL, SAC) vs a bare loop of the same maths
  SAC peer     plain SAC of SB3's size vs Stable-Baselines3's SAC.train (the `bench` extra)
  relabeling   100 000 synthetic transitions vs a bare batched forward of the same networks
  memory       the replay of a full conf/ant_neg.yaml run (35 tasks, 600 × 5000 + exploration)
  epoch        one Lightning epoch of conf/cheetah_neg.yaml vs the sum of its bare parts
  loop         Lightning epochs of conf/point_goal.yaml and of cheetah_neg + conf/debug.yaml vs
               the same module's parts in a plain loop, alternating (``loop.py``)
  accelerations  opt-in flags (--matmul_precision, torch.compile, CPU acting) vs the default path
Writes benchmarks/results.json and prints the Markdown table of BENCHMARKS.md.
``--curves`` instead measures the cost curves (``curves.py``): benchmarks/curves.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import mujoco
import torch

from benchmarks.accelerations import bench_compile, bench_cpu_acting, bench_matmul_precision
from benchmarks.curves import run_curves
from benchmarks.data import bench_collection, bench_memory, bench_relabel
from benchmarks.loop import bench_loops
from benchmarks.updates import (
    bench_epoch,
    bench_meta_update,
    bench_pearl_update,
    bench_sac_peer,
    bench_sac_update,
)
from mier_pl.envs.meta_world import metaworld_available

PROG = "python -m benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--out", default="benchmarks/results.json", help="results file")
    parser.add_argument(
        "--epoch-steps", type=int, default=50, help="training steps in the epoch figure"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads; None: torch's default"
    )
    parser.add_argument(
        "--curves",
        action="store_true",
        help="measure the cost curves (step time, replay memory and sampling vs size) instead",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible here; run on a GPU machine")
    device = torch.device(args.device)
    if args.curves:
        run_curves(args.seconds, device, str(Path(args.out).parent))
        return
    rows = [
        bench_collection("cheetah-negated-joints", args.seconds, device),
        bench_collection("ant-negated-joints", args.seconds, device),
        bench_collection("walker-rand-params-ood", args.seconds, device),
        *[
            bench_collection(family, args.seconds, device)
            for family in ("ml1-reach", "ml1-pick-place")
            if metaworld_available()
        ],
        bench_meta_update(args.seconds, device),
        bench_sac_update(args.seconds, device),
        bench_pearl_update(args.seconds, device),
        *bench_sac_peer(args.seconds, device, ("highest", "medium")),
        bench_relabel(args.seconds, device),
        bench_memory(device),
        bench_epoch(args.epoch_steps, args.seconds, device),
        *bench_loops(device),
        *bench_matmul_precision(args.seconds, device, "high"),
        *bench_matmul_precision(args.seconds, device, "medium"),
        bench_compile(args.seconds, device),
        bench_cpu_acting(args.seconds, device),
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
