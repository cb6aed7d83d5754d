"""Epoch time of every family config (``python -m benchmarks.epochs``).

A full epoch is minutes of training steps, so each family runs one short real epoch through
``python -m mier_pl fit`` (its own config, evaluation off, ``--steps`` training steps) and
its logged rates are scaled to the config's epoch:

    epoch = (tasks_per_epoch × (prior_steps + posterior_steps)) / perf/env_steps_per_s
            + steps_per_epoch / perf/updates_per_s

Each run is a fresh process, so ``--matmul_precision`` and threads apply as in a user's run.
Writes ``benchmarks/epochs.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.common import short_fit_args

CONF = Path(__file__).resolve().parents[1] / "conf"
OVERLAYS = {"debug.yaml", "model_only.yaml", "pearl.yaml"}


def _run(args: list[str], cwd: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "mier_pl", *args], cwd=cwd, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mier_pl {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def epoch_time(config: Path, steps: int, extra: list[str]) -> dict:
    """One short epoch of ``config``; returns its rates and the full epoch's estimated time."""
    with tempfile.TemporaryDirectory() as tmp:
        resolved = yaml.safe_load(_run(["fit", "--config", str(config), "--print_config"], tmp))
        collect = resolved["model"]["init_args"]["collect"]
        env_steps = collect["tasks_per_epoch"] * (
            collect["prior_steps"] + collect["posterior_steps"]
        )
        full_steps = resolved["data"]["steps_per_epoch"]
        _run(short_fit_args(str(config), 1, steps) + extra, tmp)
        (metrics,) = Path(tmp).glob("lightning_logs/*/version_0/metrics.csv")
        with open(metrics) as f:
            row = next(r for r in csv.DictReader(f) if r.get("perf/updates_per_s"))
    env_rate, update_rate = float(row["perf/env_steps_per_s"]), float(row["perf/updates_per_s"])
    collect_s, train_s = env_steps / env_rate, full_steps / update_rate
    return {
        "config": config.name,
        "family": resolved["data"]["family"],
        "env_steps": env_steps,
        "env_steps_per_s": env_rate,
        "steps_per_epoch": full_steps,
        "updates_per_s": update_rate,
        "collect_s": collect_s,
        "train_s": train_s,
        "epoch_s": collect_s + train_s,
    }


PROG = "python -m benchmarks.epochs"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--configs", nargs="+", default=[], help="family YAMLs; none: every one in conf/"
    )
    parser.add_argument("--steps", type=int, default=30, help="training steps actually run")
    parser.add_argument("--out", default="benchmarks/epochs.json", help="results file")
    parser.epilog = "Other options (--torch_threads 1, --matmul_precision medium) go to fit."
    args, extra = parser.parse_known_args()
    configs = [Path(c).resolve() for c in args.configs] or sorted(
        p for p in CONF.glob("*.yaml") if p.name not in OVERLAYS
    )
    rows = []
    print("| config | env steps/s | collection | updates/s | training | epoch |")
    print("|---|---|---|---|---|---|")
    for config in configs:
        r = epoch_time(config, args.steps, extra)
        rows.append(r)
        epoch = r["epoch_s"]
        print(
            f"| {r['config']} | {r['env_steps_per_s']:,.0f} | {r['collect_s']:.2f} s | "
            f"{r['updates_per_s']:.3g} | {r['train_s']:.0f} s ({r['steps_per_epoch']} steps) | "
            + (f"{epoch:.0f} s |" if epoch < 120 else f"{epoch / 60:.1f} min |"),
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"extra": extra, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
