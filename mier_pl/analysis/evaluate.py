"""``python -m mier_pl evaluate RUN_DIR...``: re-evaluate meta-trained checkpoints, all tasks.

Training evaluates a few train tasks once per evaluation; a final figure deserves more. For each
``fit`` run directory this loads ``checkpoints/last.ckpt`` and runs the training evaluation
(A steps of adaptation data, adapt, one deterministic episode) on **every** train and test
task, ``--repeats`` times with different seeds, and writes ``final_eval.json`` beside the run's
``metrics.csv`` (``python -m mier_pl compare`` reports it when present). On the test tasks this
is MIER-wR (or the oracle's test return); MIER's relabeled return comes from ``adapt``. A PEARL
run is evaluated with PEARL's protocol (``PEARLModule.evaluate_tasks``; A is unused).

    python -m mier_pl evaluate lightning_logs/point-goal/version_0 --repeats 5

With ``--probe`` it computes instead the identification diagnostics training logs as
``diag/...`` (:mod:`mier_pl.modules.diagnostics`; docs/learning.md, "Identification
diagnostics") on a checkpoint, also one written before they existed, and writes
``probe_epoch<E>.json`` (into ``--out``, else the run directory):

    python -m mier_pl evaluate lightning_logs/cheetah-vel/version_0 --probe --out probes/
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from mier_pl.data.checkpoint_io import CheckpointError, read_checkpoint
from mier_pl.data.rollout import Collector
from mier_pl.modules.base import MetaTrainingModule
from mier_pl.modules.diagnostics import identification_metrics
from mier_pl.modules.mier import MIERModule
from mier_pl.modules.pearl import PEARLModule


def load_run(run: Path, ckpt: Path | None = None) -> LoadedRun:
    """The module of ``run``'s checkpoint (``ckpt``, relative to ``run`` or absolute; default
    ``checkpoints/last.ckpt``) with its weights, and what evaluating it needs."""
    ckpt = run / "checkpoints" / "last.ckpt" if ckpt is None else run / ckpt
    if not ckpt.is_file():
        raise SystemExit(f"error: {ckpt} does not exist; pass fit run directories")
    try:  # one read, mapped: the replay in the file is never loaded
        checkpoint = read_checkpoint(ckpt, mmap=True)
    except CheckpointError as err:
        raise SystemExit(f"error: {err}") from None
    hparams = {k: v for k, v in checkpoint.get("hyper_parameters", {}).items() if k[0] != "_"}
    trained = checkpoint.get("hyper_parameters", {}).get("_class_path", "")
    kind = PEARLModule if trained.endswith(".PEARLModule") else MIERModule
    try:
        module = kind(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError) as err:
        raise SystemExit(f"error: {ckpt} is not a MIER fit checkpoint ({err})") from None
    module.eval()
    config = run / "config.yaml"
    data = (yaml.safe_load(config.read_text()) or {}).get("data", {}) if config.is_file() else {}
    return LoadedRun(module, checkpoint, ckpt, checkpoint["mier"]["family"], data, config)


@dataclass
class LoadedRun:
    module: MetaTrainingModule
    checkpoint: dict
    path: Path
    family: str
    data: dict  # the run's config.yaml ``data`` section ({} without one)
    config: Path

    def adapt_steps(self, given: int | None) -> int:
        """A: ``given``, else the run's ``eval.adapt_steps``, else its batch size."""
        steps = given or self.module.eval_cfg.adapt_steps or self.data.get("batch_size")
        if not steps:
            raise SystemExit(
                f"error: {self.config} is missing (the run's batch size); pass --adapt_steps"
            )
        return steps

    def collector(self, seed: int) -> Collector:
        data = self.data
        return Collector(self.family, data.get("family_seed"), seed, horizon=data.get("horizon"))

    def describe(self) -> dict[str, object]:
        checkpoint = self.checkpoint
        return {
            "checkpoint": str(self.path),
            "epoch": int(checkpoint.get("epoch", -1)) + 1,
            "env_steps": int(checkpoint["ReplayDataModule"]["collector"]["env_steps"])
            if "ReplayDataModule" in checkpoint
            else None,
            "context_source": getattr(self.module, "context_source", "pearl"),
        }


def evaluate_run(
    run: Path, repeats: int, adapt_steps: int | None, seed: int = 12345, ckpt: Path | None = None
) -> dict[str, object]:
    """The mean return over all tasks of each split, per repeat, for one run directory."""
    loaded = load_run(run, ckpt)
    module = loaded.module
    kind = type(module)
    steps = loaded.adapt_steps(adapt_steps)
    collector = loaded.collector(seed)
    out: dict[str, object] = {
        **loaded.describe(),
        "adapt_steps": None if kind is PEARLModule else steps,  # PEARL explores episodes
        "repeats": repeats,
    }
    for split, tasks in (("train", collector.train_tasks), ("test", collector.test_tasks)):
        if not tasks:
            continue
        returns, successes = [], []  # returns: [repeats, tasks]
        for r in range(repeats):
            torch.manual_seed(seed + r)
            collector.last_success = None
            with torch.no_grad():
                returns.append(module.evaluate_tasks(collector, list(tasks), steps))
            if collector.last_success is not None:  # families that report success
                successes.append(float(collector.last_success.mean()))
        means = np.mean(returns, axis=1)
        out[split] = {
            "mean": float(np.mean(means)),
            "std": float(np.std(means)),
            "repeats": means.tolist(),
            "per_task": np.mean(returns, axis=0).tolist(),  # each task's mean over repeats
        }
        if successes:
            out[split]["success"] = float(np.mean(successes))
            out[split]["success_repeats"] = successes
    return out


def probe_run(
    run: Path, adapt_steps: int | None, probe_tasks: int | None, ckpt: Path | None = None
) -> dict[str, object]:
    """The identification diagnostics of one run's checkpoint (``diag/...``, as training logs
    them at an evaluation; :mod:`mier_pl.modules.diagnostics`), whatever version of mier_pl
    wrote it."""
    loaded = load_run(run, ckpt)
    steps = loaded.adapt_steps(adapt_steps)
    tasks = probe_tasks if probe_tasks is not None else loaded.module.eval_cfg.probe_tasks
    with torch.no_grad():
        metrics = identification_metrics(loaded.module, loaded.collector(0), steps, tasks)
    return {
        **loaded.describe(),
        "adapt_steps": None if isinstance(loaded.module, PEARLModule) else steps,
        "probe_tasks": tasks,
        "diag": metrics,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mier_pl evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("runs", nargs="+", type=Path, help="fit run directories")
    parser.add_argument("--repeats", type=int, default=5, help="evaluations per task (5)")
    parser.add_argument(
        "--adapt_steps",
        type=int,
        default=None,
        help="A for every evaluation (default: the run's eval.adapt_steps, else its batch size)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="the checkpoint, relative to each run directory or absolute "
        "(default: checkpoints/last.ckpt)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="instead of returns, the identification diagnostics (diag/...: the linear probe "
        "from the context to the task encoding, context norms, model errors) of the "
        "checkpoint, as training logs them; written to probe_epoch<E>.json",
    )
    parser.add_argument(
        "--probe_tasks",
        type=int,
        default=None,
        help="train tasks the probe is fitted on (default: the run's eval.probe_tasks, all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the --probe files (default: each run's directory)",
    )
    parser.add_argument("--torch_threads", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    args = build_parser().parse_args(argv)
    if args.repeats <= 0:
        raise SystemExit(f"error: --repeats must be positive, got {args.repeats}")
    torch.set_num_threads(args.torch_threads)
    results = []
    for run in args.runs:
        if args.probe:
            result = probe_run(run, args.adapt_steps, args.probe_tasks, args.checkpoint)
            out = (args.out or run) / f"probe_epoch{result['epoch']}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
            values = ", ".join(f"{k[5:]} {v:.3g}" for k, v in result["diag"].items())
            print(f"{run} (epoch {result['epoch']}, {result['env_steps']} env steps): {values}")
            print(f"  written to {out}")
            results.append(result)
            continue
        result = evaluate_run(run, args.repeats, args.adapt_steps, ckpt=args.checkpoint)
        (run / "final_eval.json").write_text(json.dumps(result, indent=1))
        parts = [
            f"{s} {result[s]['mean']:.2f} ± {result[s]['std']:.2f}"
            + (f" (success {result[s]['success']:.2f})" if "success" in result[s] else "")
            for s in ("train", "test")
            if s in result
        ]
        how = "PEARL's protocol" if result["adapt_steps"] is None else f"A={result['adapt_steps']}"
        print(f"{run}: {how}, {result['repeats']} repeats: " + ", ".join(parts))
        results.append(result)
    return results


if __name__ == "__main__":
    main()
