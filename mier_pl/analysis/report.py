"""``python -m mier_pl report RUN_DIR...``: aggregate runs (seeds) into mean ± std.

Each RUN_DIR is a ``fit`` run directory (``lightning_logs/<family>/version_<n>``, holding
``metrics.csv``). For every metric asked for, the report takes each run's series per epoch,
prints the final value as mean ± std over runs (the paper reports 3 seeds), and writes
``report.csv`` and ``report.png`` (mean curve with a ±1 std band) to ``--out`` (default:
``report/`` in the runs' common parent directory, so it lands beside them wherever
``--trainer.default_root_dir`` put them).

Runs are averaged as seeds of one config: runs whose saved ``config.yaml`` differ in anything
but the seed and where they were written are refused, naming the keys, unless
``--allow_mixed`` is given.

``--adapt DIR...`` sets ``adapt`` runs of one family side by side instead, whatever their
method: MIER's (MIER-wR and MIER), PEARL's (PEARL) and PEARL + relabeling's, runs of one method
averaged as seeds; it writes ``methods.csv`` (per method and test task: mean, std, runs) and
``methods.png`` (per task and averaged, as the paper's Figure 4) to ``--out`` (default:
``report/`` beside the first run)::

    python -m mier_pl report --adapt runs/mier/s0/adapt runs/pearl/s0/adapt --out runs/report
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

DEFAULT_METRICS = ("eval/train_return", "eval/test_return_mier_wr")
# Settings in which seeds of one config may differ: the seed, where and how long they ran
# (the report uses the epochs every run logged), and how many threads they used.
PER_RUN_KEYS = (
    "seed_everything",
    "ckpt_path",
    "trainer.logger",
    "trainer.default_root_dir",
    "trainer.max_epochs",
    "checkpoint.dirpath",
    "torch_threads",
)


def epoch_series(metrics_csv: Path, key: str) -> dict[int, float]:
    """``{epoch: value}`` of ``key`` (the last value logged in each epoch)."""
    out: dict[int, float] = {}
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            if row.get(key):
                out[int(float(row["epoch"]))] = float(row[key])
    return out


def aggregate(runs: list[Path], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs logged by every run, and the values ``[runs, epochs]`` at those epochs."""
    series = []
    for run in runs:
        path = run / "metrics.csv"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: pass fit run directories (lightning_logs/<family>/version_<n>)"
            )
        series.append(epoch_series(path, key))
    epochs = sorted(set.intersection(*(set(s) for s in series)))
    if not epochs:
        raise ValueError(
            f"metric {key!r} is not logged at a common epoch in all runs {[str(r) for r in runs]}"
        )
    return np.array(epochs), np.array([[s[e] for e in epochs] for s in series])


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


def config_differences(runs: list[Path]) -> dict[str, list[Any]]:
    """``{key: [value per run]}`` of the saved settings in which the runs differ (other than
    :data:`PER_RUN_KEYS`); runs without a ``config.yaml`` are not compared."""
    configs = []
    for run in runs:
        path = run / "config.yaml"
        if path.is_file():
            try:
                configs.append(_flat(yaml.safe_load(path.read_text()) or {}))
            except yaml.YAMLError as err:
                raise ValueError(f"{path} is not valid YAML: {err}") from None
    keys = sorted(set().union(*configs)) if configs else []
    keys = [k for k in keys if not any(k == p or k.startswith(p + ".") for p in PER_RUN_KEYS)]
    values = {k: [c.get(k) for c in configs] for k in keys}
    return {k: v for k, v in values.items() if len({repr(x) for x in v}) > 1}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mier_pl report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("runs", nargs="*", type=Path, help="fit run directories (one per seed)")
    parser.add_argument(
        "--adapt",
        nargs="+",
        type=Path,
        default=None,
        help="adapt run directories (results.json) of any methods, to set side by side",
    )
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS))
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default: <runs' parent>/report)"
    )
    parser.add_argument(
        "--allow_mixed",
        action="store_true",
        help="average runs whose configs differ in more than the seed",
    )
    return parser


def seeds_label(n: int) -> str:
    """``"1 seed"``, ``"3 seeds"``: how a figure's legend or title counts the runs it averages."""
    return f"{n} seed{'s' * (n != 1)}"


def refuse_duplicates(paths: list[Path], what: str) -> None:
    """Exit in one line when two of ``paths`` are one directory (by its resolved path): a run
    given twice counts as two seeds and shrinks the std (``report RUN RUN``: "std 0.00")."""
    seen: dict[Path, Path] = {}
    for path in paths:
        real = Path(path).resolve()
        if real in seen:
            raise SystemExit(
                f"error: {what} {path} is given twice"
                + (f" (as {seen[real]})" if str(seen[real]) != str(path) else "")
                + "; each run counts once, so pass it once"
            )
        seen[real] = path


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if bool(args.runs) == bool(args.adapt):
        raise SystemExit("error: pass fit run directories, or --adapt with adapt run directories")
    refuse_duplicates(args.runs or args.adapt, "run")
    try:
        report_methods(args) if args.adapt else report(args)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None


def report_methods(args: argparse.Namespace) -> None:
    """``--adapt``: methods side by side per test task (see the module docstring)."""
    from mier_pl.analysis.results import load_results, method_returns, plot_methods

    runs = [load_results(d) for d in args.adapt]
    families = sorted({r.family for r in runs})
    if len(families) > 1:
        raise ValueError(
            f"the adapt runs are of several families ({', '.join(families)}); pass one"
        )
    table = method_returns(runs)
    out = args.out or args.adapt[0].parent / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = Table(title=f"{families[0]}: test return by method (mean over tasks ± s.e.m.)")
    for name in ("method", "runs", "tasks", "mean ± s.e.m."):
        summary.add_column(name, justify="left" if name == "method" else "right")
    with open(out / "methods.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "task", "mean", "std", "runs"])
        for label, per_task in table.items():
            means = []
            for task, values in sorted(per_task.items()):
                writer.writerow(
                    [label, task, f"{np.mean(values):.4f}", f"{np.std(values):.4f}", len(values)]
                )
                means.append(float(np.mean(values)))
            sem = np.std(means, ddof=1) / np.sqrt(len(means)) if len(means) > 1 else 0.0
            runs_of = max(len(v) for v in per_task.values())
            summary.add_row(
                label, str(runs_of), str(len(means)), f"{np.mean(means):.2f} ± {sem:.2f}"
            )
    plot_methods(table, families[0]).savefig(out / "methods.png", bbox_inches="tight")
    Console().print(summary)
    print(f"wrote {out / 'methods.csv'} and {out / 'methods.png'}")


def report(args: argparse.Namespace) -> None:
    """Check the runs, then aggregate and write the report (see the module docstring)."""
    series = {key: aggregate(args.runs, key) for key in args.metrics}  # all read before writing
    mixed = config_differences(args.runs)
    if mixed and not args.allow_mixed:
        listed = "; ".join(f"{k}: {', '.join(map(repr, v))}" for k, v in mixed.items())
        raise ValueError(
            f"the runs are not seeds of one config, their config.yaml differ in {listed}; "
            "pass runs of one config, or --allow_mixed to average them anyway"
        )
    if args.out is None:
        parent = Path(os.path.commonpath([r.resolve() for r in args.runs]))
        args.out = (parent.parent if len(args.runs) == 1 else parent) / "report"
    args.out.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"{len(args.runs)} runs: final value, mean ± std")
    table.add_column("metric")
    table.add_column("epoch", justify="right")
    table.add_column("mean ± std", justify="right")
    fig, axes = plt.subplots(
        1, len(args.metrics), figsize=(5 * len(args.metrics), 3.6), squeeze=False
    )
    with open(args.out / "report.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "epoch", "mean", "std", "runs"])
        for ax, key in zip(axes[0], args.metrics):
            epochs, values = series[key]
            mean, std = values.mean(0), values.std(0)
            for e, m, s in zip(epochs, mean, std):
                writer.writerow([key, int(e), f"{m:.4f}", f"{s:.4f}", len(args.runs)])
            table.add_row(key, str(int(epochs[-1])), f"{mean[-1]:.2f} ± {std[-1]:.2f}")
            ax.plot(epochs, mean, color="C0")
            ax.fill_between(epochs, mean - std, mean + std, color="C0", alpha=0.25)
            ax.set_title(key)
            ax.set_xlabel("epoch")
            ax.set_ylabel("return")
            ax.grid(alpha=0.3)
    fig.suptitle(f"mean ± std over {len(args.runs)} runs")
    fig.tight_layout()
    fig.savefig(args.out / "report.png", dpi=120)
    Console().print(table)
    print(f"wrote {args.out / 'report.csv'} and {args.out / 'report.png'}")


if __name__ == "__main__":
    main()
