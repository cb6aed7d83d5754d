"""``python -m mier_pl.report RUN_DIR...``: aggregate runs (seeds) into mean ± std.

Each RUN_DIR is a ``fit`` run directory (``lightning_logs/<family>/version_<n>``, holding
``metrics.csv``). For every metric asked for, the report takes each run's series per epoch,
prints the final value as mean ± std over runs (the paper reports 3 seeds), and writes
``report.csv`` and ``report.png`` (mean curve with a ±1 std band) to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

DEFAULT_METRICS = ("eval/train_return", "eval/test_return_mier_wr")


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="fit run directories (one per seed)")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS))
    parser.add_argument("--out", type=Path, default=Path("lightning_logs/report"))
    args = parser.parse_args(argv)
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
            epochs, values = aggregate(args.runs, key)
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
