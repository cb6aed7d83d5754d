"""``python -m mier_pl reproduce``: the paper's Figure 2 or Figures 4-5 for one family, in one command.

For each seed and method: ``fit``, then the test-time step (``adapt`` for MIER, which gives
MIER-wR and MIER from one run, and for PEARL; ``python -m mier_pl evaluate`` for the oracle,
which needs no adaptation), then one report of them all::

    python -m mier_pl reproduce --config conf/point_goal.yaml --seeds 0,1,2 \\
        --methods mier,oracle --budget cpu

Runs land in ``ROOT/<config>/<budget>/<method>/s<seed>`` (``--root``, default
``runs/reproduce``), the report in ``ROOT/<config>/<budget>/report``: ``report.md``,
``report.csv`` and ``report.json`` (per test task and mean ± std over seeds), ``figure4.png``
(mean test return per method), ``figure5.png`` (return against the test task's parameter) and
``curves.png`` (every method's evaluation returns against env steps).

A family whose test split is in distribution (``in_distribution``: the PEARL benchmarks
cheetah-vel, cheetah-dir, ant-dir, humanoid-dir, walker-rand-params) gets the paper's Figure 2
instead: only the ``fit`` runs (their in-run evaluation is the figure; no relabeling step), and
a report with ``figure2.png``, each method's test return (MIER-wR for MIER) against env steps
beside the PEARL authors' published curves (``--no-published`` leaves them out;
:mod:`mier_pl.analysis.figure2`)::

    python -m mier_pl reproduce --config conf/cheetah_vel.yaml --seeds 0,1,2 \\
        --methods mier,pearl,oracle --budget paper

It resumes: a finished step is reused, an interrupted ``fit`` continues from its
``last.ckpt``, an interrupted ``adapt`` from its finished tasks. Each run keeps the command
that made it and a sha256 of each config file it read (``reproduce.json``); a second call
whose command differs, or whose config files were edited since, is refused, naming the
difference, so results of different settings never mix. ``--jobs N`` runs N seed-method
pipelines at once; ``--print-commands`` prints the commands, and a SLURM array script, instead.
Arguments after ``--`` go to every ``fit`` (e.g. ``-- --trainer.max_epochs 10``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from mier_pl import runlock
from mier_pl.analysis.figure2 import write_figure2
from mier_pl.analysis.report import epoch_series, seeds_label
from mier_pl.cli.adapt_trainer import RUN_RECORD
from mier_pl.envs import make_env
from mier_pl.envs.registry import family_class

PROG = "python -m mier_pl reproduce"
CONF = Path(__file__).resolve().parents[2] / "conf"
BUDGETS = ("cpu", "paper", "config")


@dataclass(frozen=True)
class Method:
    """A method of the comparison: what its ``fit`` adds to the family config, and how its
    test returns are produced ("adapt": an ``adapt`` run; "evaluate": ``mier_pl.analysis.evaluate``)."""

    name: str
    fit_args: tuple[str, ...]
    test: str
    overlay: str | None = None  # a config file the method needs


METHODS = {
    "mier": Method("mier", (), "adapt"),
    "oracle": Method("oracle", ("--model.init_args.context_source", "oracle"), "evaluate"),
    "pearl": Method("pearl", (), "adapt", overlay="pearl.yaml"),
}
LABELS = {"mier": "MIER", "mier_wr": "MIER-wR", "oracle": "oracle context", "pearl": "PEARL"}
COLORS = {"mier": "C0", "mier_wr": "C1", "oracle": "C2", "pearl": "C3"}  # the same in every plot


# ----------------------------------------------------------------- commands
def budget_overlay(config: Path, budget: str) -> Path | None:
    """``conf/budget/<budget>_<config>.yaml`` if it exists (a family's own schedule, e.g.
    ant-negated-joints' 2.5 M env steps), else ``conf/budget/<budget>.yaml``; None for the
    config's own schedule."""
    if budget == "config":
        return None
    own = CONF / "budget" / f"{budget}_{config.stem}.yaml"
    return own if own.is_file() else CONF / "budget" / f"{budget}.yaml"


@dataclass(frozen=True)
class Job:
    method: Method
    seed: int
    run: Path  # the fit run directory
    fit: list[str]
    test: list[str]

    @property
    def record(self) -> dict:
        return {"fit": self.fit, "test": self.test}

    def config_digests(self) -> dict[str, str]:
        """sha256 of each ``--config`` file the commands read: the same command with an edited
        config file is other settings."""
        files = {
            c[i + 1] for c in (self.fit, self.test) for i, a in enumerate(c) if a == "--config"
        }
        return {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in sorted(files)}


def config_family(args: argparse.Namespace) -> str:
    """The family the config (or the last overlay that sets one) names."""
    family = None
    for path in [args.config, *args.overlay]:
        data = (yaml.safe_load(Path(path).read_text()) or {}).get("data") or {}
        family = data.get("family", family)
    if family is None:
        raise SystemExit(f"error: {args.config} names no data.family")
    return family


def plan(args: argparse.Namespace, extra: list[str]) -> tuple[Path, list[Job]]:
    """The root of this comparison and one job per (method, seed); an in-distribution family
    (Figure 2) has no test step: its runs' own evaluations are the figure."""
    in_distribution = family_class(config_family(args)).in_distribution
    config = Path(args.config)
    root = Path(args.root) / config.stem / args.budget
    overlay = budget_overlay(config, args.budget)
    py = [sys.executable, "-m", "mier_pl"]
    jobs = []
    for name in args.methods:
        method = METHODS[name]
        for seed in args.seeds:
            run = root / name / f"s{seed}"
            configs = ["--config", str(config)]
            for extra_config in args.overlay:
                configs += ["--config", str(extra_config)]
            if method.overlay:
                configs += ["--config", str(CONF / method.overlay)]
            fit = [*py, "fit", *configs]
            if overlay is not None:
                fit += ["--config", str(overlay)]
            fit += [
                *method.fit_args,
                "--seed_everything",
                str(seed),
                "--trainer.enable_progress_bar",
                "false",
                # <root>/<method>/s<seed> (a logger named "mier" would be renamed by the CLI)
                "--trainer.logger.init_args.save_dir",
                str(root / name),
                "--trainer.logger.init_args.name",
                "",
                "--trainer.logger.init_args.version",
                f"s{seed}",
                *extra,
            ]
            ckpt = str(run / "checkpoints" / "last.ckpt")
            if method.test == "adapt":
                test = [
                    *py,
                    "adapt",
                    *configs,
                    "--ckpt_path",
                    ckpt,
                    "--trainer.enable_progress_bar",
                    "false",
                    "--trainer.logger.init_args.save_dir",
                    str(run),
                    "--trainer.logger.init_args.name",
                    "",
                    "--trainer.logger.init_args.version",
                    "adapt",
                ]
                if args.tasks:
                    test += ["--tasks", args.tasks]
            else:
                test = [sys.executable, "-m", "mier_pl", "evaluate", str(run), "--repeats", "3"]
            if in_distribution:
                test = []
            jobs.append(Job(method, seed, run, fit, test))
    return root, jobs


def check_record(job: Job) -> None:
    """Refuse a run directory made by a different command (settings never mix)."""
    path = job.run / "reproduce.json"
    if not path.is_file():
        return
    saved = json.loads(path.read_text())
    for step in ("fit", "test"):
        if saved["commands"][step][2:] != job.record[step][2:]:  # the interpreter may differ
            old, new = set(saved["commands"][step][2:]), set(job.record[step][2:])
            raise SystemExit(
                f"error: {job.run} was made by a different {step} command (only before: "
                f"{sorted(old - new)}; only now: {sorted(new - old)}); use another --root, or "
                f"delete {job.run} to redo it with the new settings"
            )
    # Records written before config files were fingerprinted have none: taken as they are now.
    before = saved.get("config_sha256")
    if before is not None:
        now = job.config_digests()
        changed = sorted(f for f in set(before) | set(now) if before.get(f) != now.get(f))
        if changed:
            raise SystemExit(
                f"error: {job.run} was made with other contents of {', '.join(changed)} (the "
                f"same command, an edited config file); use another --root, or delete "
                f"{job.run} to redo it with the new settings"
            )


def run_job(job: Job, log: Path) -> dict:
    """fit (resumed from last.ckpt if it was interrupted) then the test step; both reused
    when already done. Returns the job's record with wall times."""
    path = job.run / "reproduce.json"
    record = json.loads(path.read_text()) if path.is_file() else {"seconds": {}}
    record["commands"] = job.record
    record["config_sha256"] = job.config_digests()
    done = job.run / "fit.done"
    with open(log, "a") as out:
        if not done.is_file():
            ckpt = job.run / "checkpoints" / "last.ckpt"
            command = job.fit + (["--ckpt_path", str(ckpt)] if ckpt.is_file() else [])
            record["seconds"]["fit"] = _call(command, out) + record["seconds"].get("fit", 0.0)
            job.run.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=1))
            done.touch()
        test_done = job.run / (
            "adapt/results.json" if job.method.test == "adapt" else "final_eval.json"
        )
        if job.test and not (test_done.is_file() and (job.run / "test.done").is_file()):
            command = list(job.test)
            if job.method.test == "adapt" and (job.run / "adapt" / RUN_RECORD).is_file():
                command += ["--resume", str(job.run / "adapt")]
            record["seconds"]["test"] = _call(command, out)
            (job.run / "test.done").touch()
    path.write_text(json.dumps(record, indent=1))
    return record


def _call(command: list[str], out) -> float:
    out.write(f"$ {shlex.join(command)}\n")
    out.flush()
    t0 = time.perf_counter()
    proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(
            f"failed (exit {proc.returncode}): {shlex.join(command)}; see {out.name}"
        )
    return time.perf_counter() - t0


def slurm_script(root: Path, jobs: list[Job]) -> str:
    """A SLURM array script: task i runs job i's fit then its test step."""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --array=0-{len(jobs) - 1}",
        "#SBATCH --cpus-per-task=2",
        f"#SBATCH --output={root}/slurm-%a.log",
        "set -euo pipefail",
        "case $SLURM_ARRAY_TASK_ID in",
    ]
    for i, job in enumerate(jobs):
        steps = " && ".join(shlex.join(c) for c in (job.fit, job.test) if c)
        lines.append(f"  {i}) {steps} ;;")
    lines += ["esac", f"# then: {PROG} ... (same arguments) to write the report"]
    return "\n".join(lines)


# ------------------------------------------------------------------- report
def read_test_returns(job: Job) -> tuple[list[int], dict[str, list[float]]]:
    """A finished job's test-task ids and its per-task returns by method label key, from its
    one result file."""
    if job.method.test == "evaluate":
        per_task = json.loads((job.run / "final_eval.json").read_text())["test"]["per_task"]
        return list(range(len(per_task))), {job.method.name: per_task}
    saved = json.loads((job.run / "adapt" / "results.json").read_text())
    tasks = sorted(saved["tasks"], key=lambda t: t["task"])
    ids = [t["task"] for t in tasks]
    if job.method.name == "mier":
        return ids, {
            "mier_wr": [t["mier_wr"] for t in tasks],
            "mier": [t["mier"][-1] for t in tasks],
        }
    return ids, {job.method.name: [t["mier"][-1] if t["mier"] else t["mier_wr"] for t in tasks]}


def write_report(root: Path, jobs: list[Job], args: argparse.Namespace) -> dict:
    out = Path(args.out) if args.out else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    family = yaml.safe_load((jobs[0].run / "config.yaml").read_text())["data"]["family"]
    if family_class(family).in_distribution:
        return _figure2_report(out, jobs, args, family)
    env = make_env(family)
    test_tasks = env.tasks("test")
    per: dict[str, dict[int, np.ndarray]] = {}  # label → seed → [tasks]
    ids: list[int] | None = None
    for job in jobs:
        task_ids, returns = read_test_returns(job)
        ids = task_ids if ids is None else [i for i in ids if i in task_ids]
        for key, values in returns.items():
            per.setdefault(key, {})[job.seed] = dict(zip(task_ids, values))
    assert ids is not None
    table: dict[str, dict] = {}
    for key, seeds in per.items():
        matrix = np.array([[seeds[s][i] for i in ids] for s in sorted(seeds)])  # [seeds, tasks]
        means = matrix.mean(axis=1)
        table[key] = {
            "label": LABELS[key],
            "seeds": sorted(seeds),
            "mean": float(means.mean()),
            "std": float(means.std()),
            "per_seed": means.tolist(),
            "per_task_mean": matrix.mean(axis=0).tolist(),
            "per_task_std": matrix.std(axis=0).tolist(),
        }
    params = [env.task_parameter(test_tasks[i]) for i in ids]
    axis = params[0][0] if params and params[0] is not None else "test task"
    xs = [p[1] if p is not None else i for p, i in zip(params, ids)]
    env_steps, seconds = {}, {}
    for job in jobs:
        rec = json.loads((job.run / "reproduce.json").read_text())
        seconds.setdefault(job.method.name, []).append(sum(rec["seconds"].values()))
        steps = epoch_series(job.run / "metrics.csv", "progress/env_steps")
        env_steps.setdefault(job.method.name, []).append(max(steps.values()) if steps else None)
    meta = {
        "family": family,
        "config": str(args.config),
        "budget": args.budget,
        "seeds": args.seeds,
        "methods": args.methods,
        "test_tasks": ids,
        "task_axis": axis,
        "task_values": xs,
        "env_steps": env_steps,
        "wall_seconds": seconds,
    }
    payload = {"meta": meta, "methods": table}
    (out / "report.json").write_text(json.dumps(payload, indent=1))
    _write_csv(out / "report.csv", table, ids, xs, axis)
    (out / "report.md").write_text(_markdown(meta, table, ids, xs, axis))
    _plots(out, jobs, table, xs, axis, meta)
    print((out / "report.md").read_text())
    return payload


def _figure2_report(out: Path, jobs: list[Job], args: argparse.Namespace, family: str) -> dict:
    """Figure 2 (in-distribution family): the runs' test curves beside the published ones."""
    runs: dict[str, list[Path]] = {}
    seconds: dict[str, list[float]] = {}
    for job in jobs:
        runs.setdefault(job.method.name, []).append(job.run)
        rec = json.loads((job.run / "reproduce.json").read_text())
        seconds.setdefault(job.method.name, []).append(sum(rec["seconds"].values()))
    meta = {
        "family": family,
        "config": str(args.config),
        "budget": args.budget,
        "seeds": args.seeds,
        "methods": args.methods,
        "wall_seconds": seconds,
    }
    payload = write_figure2(out, runs, meta, LABELS, COLORS, show_published=args.published)
    print((out / "report.md").read_text())
    return payload


def _write_csv(path: Path, table: dict, ids: list[int], xs: list, axis: str) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "test task", axis, "mean over seeds", "std over seeds"])
        for row in table.values():
            for j, i in enumerate(ids):
                w.writerow(
                    [row["label"], i, xs[j], row["per_task_mean"][j], row["per_task_std"][j]]
                )
            w.writerow([row["label"], "all", "", row["mean"], row["std"]])


def _markdown(meta: dict, table: dict, ids: list[int], xs: list, axis: str) -> str:
    steps = {m: sorted({s for s in v if s is not None}) for m, v in meta["env_steps"].items()}
    lines = [
        f"# {meta['family']}: test return per method ({meta['config']}, budget {meta['budget']})",
        "",
        f"Seeds {', '.join(map(str, meta['seeds']))}; {len(ids)} test tasks. Env steps of "
        "meta-training per method: "
        + "; ".join(f"{LABELS[m]} {', '.join(f'{s:,.0f}' for s in v)}" for m, v in steps.items())
        + ". Wall time per run (fit + test step): "
        + "; ".join(
            f"{LABELS[m]} {np.mean(v) / 60:.1f} min" for m, v in meta["wall_seconds"].items()
        )
        + ". Written by `python -m mier_pl reproduce`.",
        "",
        "| method | mean ± std over seeds | per seed |",
        "|---|---|---|",
    ]
    for row in sorted(table.values(), key=lambda r: -r["mean"]):
        per_seed = ", ".join(f"s{s}: {v:.2f}" for s, v in zip(row["seeds"], row["per_seed"]))
        lines.append(f"| {row['label']} | {row['mean']:.2f} ± {row['std']:.2f} | {per_seed} |")
    lines += ["", f"Per test task (mean ± std over seeds; {axis}):", ""]
    header = " | ".join(row["label"] for row in table.values())
    lines += [f"| task | {axis} | {header} |", "|---" * (2 + len(table)) + "|"]
    for j, i in enumerate(ids):
        cells = " | ".join(
            f"{r['per_task_mean'][j]:.2f} ± {r['per_task_std'][j]:.2f}" for r in table.values()
        )
        lines.append(f"| {i} | {xs[j]:.3g} | {cells} |")
    return "\n".join(lines) + "\n"


def _plots(out: Path, jobs: list[Job], table: dict, xs: list, axis: str, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(table)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(keys), 3.6))
    ax.bar(
        [LABELS[k] for k in keys],
        [table[k]["mean"] for k in keys],
        yerr=[table[k]["std"] for k in keys],
        color=[COLORS[k] for k in keys],
        capsize=4,
    )
    ax.set(ylabel="test return", title=f"{meta['family']} ({seeds_label(len(meta['seeds']))})")
    fig.tight_layout()
    fig.savefig(out / "figure4.png", dpi=120)
    plt.close(fig)

    order = np.argsort(xs)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k in keys:
        mean, std = np.array(table[k]["per_task_mean"]), np.array(table[k]["per_task_std"])
        x = np.asarray(xs)[order]
        ax.plot(x, mean[order], "o-", color=COLORS[k], label=LABELS[k])
        ax.fill_between(x, (mean - std)[order], (mean + std)[order], color=COLORS[k], alpha=0.15)
    ax.set(xlabel=axis, ylabel="test return", title=f"{meta['family']}: return per test task")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "figure5.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name in meta["methods"]:
        runs = [j.run for j in jobs if j.method.name == name]
        for ax, split in zip(axes, ("train", "test")):
            # The test curve is each method's in-run evaluation before any relabeling.
            key, label = "eval/train_return", name
            if split == "test":
                key = {"oracle": "eval/test_return_oracle", "pearl": "eval/test_return_pearl"}.get(
                    name, "eval/test_return_mier_wr"
                )
                label = "mier_wr" if name == "mier" else name
            curves = [c for c in (_curve(r, key) for r in runs) if c[0]]
            if not curves:
                continue
            n = min(len(c[0]) for c in curves)
            x = np.mean([c[0][:n] for c in curves], axis=0)
            y = np.array([c[1][:n] for c in curves])
            color = COLORS[label]
            ax.plot(x, y.mean(0), color=color, label=LABELS[label])
            ax.fill_between(x, y.mean(0) - y.std(0), y.mean(0) + y.std(0), color=color, alpha=0.15)
    axes[0].set(title="train tasks", xlabel="env steps", ylabel="return")
    axes[1].set(title="test tasks, before relabeling", xlabel="env steps", ylabel="return")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)


def _curve(run: Path, key: str) -> tuple[list[float], list[float]]:
    values = epoch_series(run / "metrics.csv", key)
    steps = epoch_series(run / "metrics.csv", "progress/env_steps")
    epochs = [e for e in sorted(values) if e in steps]
    return [steps[e] for e in epochs], [values[e] for e in epochs]


# --------------------------------------------------------------------- main
class _Once(argparse.Action):
    """``--config`` given a second time is refused: argparse kept the last silently, so
    ``--config conf/point_rotated.yaml --config conf/debug.yaml`` ran without its family."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        first = getattr(namespace, self.dest, None)
        if first is not None:
            raise SystemExit(
                f"error: --config is given twice ({first}, {values}); give the family config "
                f"once and each overlay with --overlay, e.g. --config {first} --overlay {values}"
            )
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--config",
        required=True,
        action=_Once,
        help="the family config, conf/<family>.yaml (once; overlays go in --overlay)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--methods", default="mier,oracle", help=f"comma-separated, of {', '.join(METHODS)}"
    )
    parser.add_argument(
        "--budget",
        default="config",
        choices=BUDGETS,
        help="conf/budget/<budget>.yaml (cpu: a 2-core CPU schedule; paper: 1.5 M env steps, "
        "2.5 M for ant_neg); config: the family config's own epochs",
    )
    parser.add_argument(
        "--overlay",
        action="append",
        default=[],
        help="a config overlay for every fit and adapt (repeatable), e.g. conf/debug.yaml",
    )
    parser.add_argument("--tasks", default=None, help="test tasks for adapt, e.g. 0,3,7 (all)")
    parser.add_argument("--jobs", type=int, default=1, help="seed-method pipelines at once")
    parser.add_argument("--root", default="runs/reproduce", help="where runs and report go")
    parser.add_argument(
        "--out",
        default=None,
        help="where the report goes (default: <root>/<config>/<budget>/report)",
    )
    parser.add_argument(
        "--print-commands",
        action="store_true",
        help="print the fit/test commands and a SLURM array script instead of running them",
    )
    parser.add_argument(
        "--no-published",
        dest="published",
        action="store_false",
        help="Figure 2: leave out the PEARL authors' published curves (mier_pl.analysis.published)",
    )
    return parser


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = build_parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if not Path(args.config).is_file():
        raise SystemExit(f"error: config {args.config} does not exist; pass conf/<family>.yaml")
    try:
        # once each: a seed or method given twice would be two writers on one run directory
        args.seeds = list(dict.fromkeys(int(s) for s in str(args.seeds).split(",")))
    except ValueError:
        raise SystemExit(f"error: --seeds takes integers like 0,1,2; got {args.seeds!r}") from None
    args.methods = list(dict.fromkeys(m.strip() for m in args.methods.split(",") if m.strip()))
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"error: unknown method {unknown}; choose from {', '.join(METHODS)}")
    for m in args.methods:
        overlay = METHODS[m].overlay
        if overlay and not (CONF / overlay).is_file():
            raise SystemExit(f"error: method {m} needs conf/{overlay}, which this install lacks")
    if args.jobs < 1:
        raise SystemExit(f"error: --jobs must be at least 1, got {args.jobs}")
    root, jobs = plan(args, extra)
    if args.print_commands:
        for job in jobs:
            print(shlex.join(job.fit))
            if job.test:
                print(shlex.join(job.test))
        print("\n" + slurm_script(root, jobs))
        return None
    for job in jobs:
        check_record(job)
    for job in jobs:  # another reproduce on these runs is refused before anything starts
        runlock.hold(
            job.run,
            "wait for that reproduce to finish or stop it, or use another --root",
            name=".reproduce.lock",
        )
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(run_job, job, root / f"{job.method.name}_s{job.seed}.log") for job in jobs
        ]
        for future in futures:
            future.result()
    print(f"{len(jobs)} runs done in {(time.perf_counter() - t0) / 60:.1f} min; writing the report")
    return write_report(root, jobs, args)


if __name__ == "__main__":
    main()
