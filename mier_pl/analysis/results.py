"""Results of ``python -m mier_pl adapt``: files, summary table and plots, in one place.

The ``adapt`` command and ``notebooks/results.ipynb`` both use these functions, so the figures
and the table of a run can be remade from its directory alone::

    results = load_results("lightning_logs/point-rotated/adapt_0")
    print_summary(results)
    plot_return_curves(results); plot_comparison(results)

Files in a run directory: ``results.json`` (everything), ``results.csv`` (one row per test
task), ``returns.png`` and ``comparison.png``; ``task_<i>/mier_wr.mp4`` and ``mier.mp4`` (or
``.gif``) are the task's MIER-wR episode and its episode after the last relabeling epoch
(:func:`task_videos`, :func:`videos_html`).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
RETURNS_PNG = "returns.png"
COMPARISON_PNG = "comparison.png"

# What a run's two numbers per task are called, by method (``AdaptResults.method``): the
# return before relabeling (``TaskResult.mier_wr``) and after it (``TaskResult.mier``).
METHOD_LABELS: dict[str, tuple[str, str]] = {
    "mier": ("MIER-wR", "MIER"),
    "pearl": ("PEARL", "PEARL"),  # no relabeling: the two are one number
    "pearl_relabel": ("PEARL", "PEARL + relabeling"),
}


@dataclass
class TaskResult:
    """One test task.

    Attributes:
        task: index into the family's test tasks.
        description: the task (its repr).
        mier_wr: return after context adaptation only (docs/algorithm.md §6 step 6); for a PEARL run,
            the return of PEARL's evaluation protocol.
        mier: return after each relabeling epoch (``mier[-1]`` is the MIER result; for
            method ``pearl_relabel`` PEARL + relabeling; empty for method ``pearl``).
        model_fallback: the M model steps diverged and the context-only model was used.
        model_report: why (empty otherwise).
        gate_open: synthetic data was used (the paper's loss gate, when enabled, may close it).
        val_loss_context: validation loss after the context steps.
        val_loss_final: validation loss of the model that was used.
        seconds: wall time of the task.
        mier_wr_success: whether the MIER-wR episode succeeded (1.0/0.0), for families that
            report success (Meta-World); ``None`` otherwise.
        mier_success: the success of each relabeling epoch's episode (empty if not reported).
    """

    task: int
    description: str
    mier_wr: float
    mier: list[float]
    model_fallback: bool = False
    model_report: str = ""
    gate_open: bool = True
    val_loss_context: float = math.nan
    val_loss_final: float = math.nan
    seconds: float = math.nan
    mier_wr_success: float | None = None
    mier_success: list[float] = field(default_factory=list)

    @property
    def final(self) -> float:
        return self.mier[-1] if self.mier else self.mier_wr


@dataclass
class AdaptResults:
    """A whole ``adapt`` run: the family, the checkpoint, the settings, every task and the
    method (:data:`METHOD_LABELS`: ``mier``, ``pearl`` or ``pearl_relabel``)."""

    family: str
    checkpoint: str
    settings: dict[str, Any]
    tasks: list[TaskResult] = field(default_factory=list)
    method: str = "mier"

    @property
    def labels(self) -> tuple[str, str]:
        """Names of the returns before and after relabeling, for tables and plots."""
        return METHOD_LABELS.get(self.method, METHOD_LABELS["mier"])

    def summary(self) -> dict[str, float]:
        wr = np.array([t.mier_wr for t in self.tasks], dtype=float)
        final = np.array([t.final for t in self.tasks], dtype=float)
        n = max(len(self.tasks), 1)
        return {
            "tasks": len(self.tasks),
            "mier_wr_mean": float(wr.mean()) if len(wr) else math.nan,
            "mier_mean": float(final.mean()) if len(final) else math.nan,
            "mier_wr_sem": float(wr.std(ddof=1) / math.sqrt(n)) if len(wr) > 1 else 0.0,
            "mier_sem": float(final.std(ddof=1) / math.sqrt(n)) if len(final) > 1 else 0.0,
            "model_fallbacks": sum(t.model_fallback for t in self.tasks),
            **self.success_summary(),
        }

    def success_summary(self) -> dict[str, float]:
        """Success rates over the test tasks, for families that report success: MIER-wR and
        the last relabeling epoch (MIER), and MIER's per epoch (``{}`` otherwise)."""
        reported = [t for t in self.tasks if t.mier_wr_success is not None]
        if not reported:
            return {}
        out = {"mier_wr_success_rate": float(np.mean([t.mier_wr_success for t in reported]))}
        finals = [t.mier_success[-1] for t in reported if t.mier_success]
        if finals:
            out["mier_success_rate"] = float(np.mean(finals))
        for e in range(max(len(t.mier_success) for t in reported)):
            values = [t.mier_success[e] for t in reported if e < len(t.mier_success)]
            out[f"mier_success_rate_epoch_{e + 1}"] = float(np.mean(values))
        return out

    def epochs(self) -> int:
        return max((len(t.mier) for t in self.tasks), default=0)


# --------------------------------------------------------------------- files
def write_results(results: AdaptResults, directory: str | Path) -> list[Path]:
    """Write ``results.json`` and ``results.csv`` into ``directory``; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "family": results.family,
        "method": results.method,
        "checkpoint": results.checkpoint,
        "settings": results.settings,
        "summary": results.summary(),
        "tasks": [asdict(t) for t in results.tasks],
    }
    json_path = directory / RESULTS_JSON
    # Strict JSON: non-finite numbers (a NaN validation loss, say) are written as null.
    json_path.write_text(json.dumps(_finite_or_null(payload), indent=2, allow_nan=False) + "\n")
    epochs = results.epochs()
    csv_path = directory / RESULTS_CSV
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "task",
                "description",
                "mier_wr",
                "mier",
                *[f"epoch_{e}" for e in range(1, epochs + 1)],
                "model_fallback",
                "gate_open",
                "val_loss_context",
                "val_loss_final",
                "seconds",
            ]
        )
        for t in results.tasks:
            curve = [*t.mier, *[math.nan] * (epochs - len(t.mier))]
            writer.writerow(
                [
                    t.task,
                    t.description,
                    t.mier_wr,
                    t.final,
                    *curve,
                    t.model_fallback,
                    t.gate_open,
                    t.val_loss_context,
                    t.val_loss_final,
                    t.seconds,
                ]
            )
    return [json_path, csv_path]


def load_results(directory: str | Path) -> AdaptResults:
    """Read a run directory's ``results.json``."""
    path = Path(directory) / RESULTS_JSON
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; pass the directory of an adapt run "
            "(lightning_logs/<family>/adapt_<n>), which holds results.json"
        )
    payload = json.loads(path.read_text())
    tasks = [_task_from_plain(t) for t in payload["tasks"]]
    return AdaptResults(
        payload["family"],
        payload["checkpoint"],
        payload["settings"],
        tasks,
        payload.get("method", "mier"),  # runs written before PEARL are MIER's
    )


def dump_task(result: TaskResult) -> str:
    """One task's result as strict JSON (a task directory's ``result.json``)."""
    return json.dumps(_finite_or_null(asdict(result)), indent=2, allow_nan=False) + "\n"


def load_task(text: str) -> TaskResult:
    return _task_from_plain(json.loads(text))


def _task_from_plain(plain: dict[str, Any]) -> TaskResult:
    floats = {f.name for f in fields(TaskResult) if f.type == "float"}
    return TaskResult(**{k: math.nan if v is None and k in floats else v for k, v in plain.items()})


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


# --------------------------------------------------------------------- table
def summary_table(results: AdaptResults):
    """A ``rich`` table: one row per test task, then the mean."""
    from rich.table import Table

    before, after = results.labels
    table = Table(
        title=f"{results.family}: {before} vs {after} ({results.epochs()} relabeling epochs)"
    )
    for name in ("task", "description", before, after, "Δ", "model"):
        table.add_column(name, justify="left" if name in ("description", "model") else "right")
    for t in results.tasks:
        model = "fallback" if t.model_fallback else ("gate closed" if not t.gate_open else "ok")
        table.add_row(
            str(t.task),
            t.description,
            f"{t.mier_wr:.2f}",
            f"{t.final:.2f}",
            f"{t.final - t.mier_wr:+.2f}",
            model,
        )
    s = results.summary()
    table.add_section()
    n = s["tasks"]
    table.add_row(
        "mean",
        f"{n} task{'s' if n != 1 else ''}",
        f"{s['mier_wr_mean']:.2f} ± {s['mier_wr_sem']:.2f}",
        f"{s['mier_mean']:.2f} ± {s['mier_sem']:.2f}",
        f"{s['mier_mean'] - s['mier_wr_mean']:+.2f}",
        f"{s['model_fallbacks']} fallback",
    )
    table.caption = (
        "mean ± standard error over test tasks; epoch returns: one deterministic episode each"
    )
    if "mier_wr_success_rate" in s:  # families that report success (Meta-World)
        table.caption += (
            f"\nsuccess rate: MIER-wR {s['mier_wr_success_rate']:.2f}, "
            f"MIER {s.get('mier_success_rate', math.nan):.2f}"
        )
    return table


def print_summary(results: AdaptResults, console=None) -> None:
    from rich.console import Console

    (console or Console()).print(summary_table(results))


# --------------------------------------------------------------------- plots
def _figure(width: float, height: float):
    """A pyplot-free figure: saving it renders with Agg whatever the session's backend, and a
    notebook shows it when it is a cell's value."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig, fig.subplots()


def plot_return_curves(results: AdaptResults):
    """Return vs relabeling epoch, one line per test task and the mean (epoch 0 = MIER-wR)."""
    import matplotlib

    fig, ax = _figure(7.5, 4.8)
    cmap = matplotlib.colormaps["viridis"]
    curves = []
    for i, t in enumerate(results.tasks):
        curve = [t.mier_wr, *t.mier]
        curves.append(curve)
        color = cmap(i / max(len(results.tasks) - 1, 1))
        ax.plot(
            range(len(curve)),
            curve,
            color=color,
            alpha=0.55,
            lw=1.2,
            marker=".",
            label=f"task {t.task}",
        )
    if curves:
        width = max(len(c) for c in curves)
        padded = np.array([c + [np.nan] * (width - len(c)) for c in curves], dtype=float)
        ax.plot(
            range(width),
            np.nanmean(padded, axis=0),
            color="black",
            lw=2.6,
            marker="o",
            label="mean",
        )
    ax.set_xlabel(f"relabeling epoch (0 = {results.labels[0]}: no relabeling)")
    ax.set_ylabel("test return (one deterministic episode)")
    ax.set_title(f"{results.family}: return during experience relabeling")
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ncol = 2 if len(results.tasks) > 8 else 1
    ax.legend(fontsize=8, ncol=ncol, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def plot_comparison(results: AdaptResults):
    """MIER-wR vs MIER per test task and their mean (± s.e.m.), as the paper's Figure 4 compares."""
    s = results.summary()
    n = len(results.tasks)
    wr = [t.mier_wr for t in results.tasks]
    mier = [t.final for t in results.tasks]
    x = np.arange(n, dtype=float)
    x_mean = n + 0.6  # the mean stands apart
    width = 0.38
    fig, ax = _figure(max(6.5, 0.6 * n + 4.0), 4.6)
    style_wr = {"color": "#9ecae1", "edgecolor": "#3182bd"}
    style_mier = {"color": "#fdae6b", "edgecolor": "#e6550d"}
    before, after = results.labels
    ax.bar(x - width / 2, wr, width, label=f"{before} (no relabeling)", **style_wr)
    ax.bar(x + width / 2, mier, width, label=after, **style_mier)
    err = {"capsize": 4, "error_kw": {"elinewidth": 1.2}}
    ax.bar(
        x_mean - width / 2,
        s["mier_wr_mean"],
        width,
        yerr=s["mier_wr_sem"],
        hatch="//",
        **style_wr,
        **err,
    )
    ax.bar(
        x_mean + width / 2,
        s["mier_mean"],
        width,
        yerr=s["mier_sem"],
        hatch="//",
        **style_mier,
        **err,
    )
    for xi, value in (
        (x_mean - width / 2, s["mier_wr_mean"]),
        (x_mean + width / 2, s["mier_mean"]),
    ):
        box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}
        ax.text(
            xi,
            value / 2,
            f"{value:.1f}",
            ha="center",
            va="center",
            fontsize=8,
            rotation=90,
            bbox=box,
        )
    ax.axvline(n - 0.2, color="grey", lw=0.8, ls="--")
    ticks = [f"{t.task}\nfallback" if t.model_fallback else str(t.task) for t in results.tasks]
    ax.set_xticks([*x, x_mean], [*ticks, "mean\n± s.e.m."])
    for label, t in zip(ax.get_xticklabels(), results.tasks):
        if t.model_fallback:  # the model steps diverged: MIER used the context-only model
            label.set_color("#a50f15")
    ax.set_xlabel("test task")
    ax.set_ylabel("test return (one deterministic episode)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(
        f"{results.family}: {before} vs {after} after {results.epochs()} relabeling epochs"
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def write_plots(results: AdaptResults, directory: str | Path) -> list[Path]:
    """Save ``returns.png`` and ``comparison.png`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in ((RETURNS_PNG, plot_return_curves), (COMPARISON_PNG, plot_comparison)):
        fig = make(results)
        fig.savefig(directory / name, bbox_inches="tight")
        paths.append(directory / name)
    return paths


VIDEO_NAMES = ("mier_wr", "mier")


def task_videos(directory: str | Path) -> dict[int, dict[str, Path]]:
    """The videos ``adapt`` wrote per test task: ``{task: {"mier_wr": path, "mier": path}}``
    (``task_<i>/mier_wr.mp4`` and ``mier.mp4``, or ``.gif``; tasks without any are left out)."""
    found: dict[int, dict[str, Path]] = {}
    for task_dir in sorted(Path(directory).glob("task_*")):
        if not task_dir.name[5:].isdigit():
            continue
        files = {
            name: path
            for name in VIDEO_NAMES
            for path in (task_dir / f"{name}.mp4", task_dir / f"{name}.gif")
            if path.is_file()
        }
        if files:
            found[int(task_dir.name[5:])] = files
    return found


def videos_html(directory: str | Path, width: int = 320) -> str:
    """An HTML table of each task's MIER-wR and MIER videos side by side, embedded (base64),
    for the results notebook; empty when the run has no videos."""
    import base64

    def embed(path: Path) -> str:
        data = base64.b64encode(path.read_bytes()).decode()
        if path.suffix == ".mp4":
            return (
                f'<video width="{width}" controls loop autoplay muted>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>'
            )
        return f'<img width="{width}" src="data:image/gif;base64,{data}">'

    rows = [
        f"<tr><td>task {task}</td>"
        + "".join(
            f"<td>{embed(files[name]) if name in files else 'missing'}</td>" for name in VIDEO_NAMES
        )
        + "</tr>"
        for task, files in task_videos(directory).items()
    ]
    if not rows:
        return ""
    return (
        "<table><tr><th></th><th>MIER-wR (before relabeling)</th>"
        "<th>MIER (after the last relabeling epoch)</th></tr>" + "".join(rows) + "</table>"
    )


# ------------------------------------------------------------ across methods
def method_returns(runs: list[AdaptResults]) -> dict[str, dict[int, list[float]]]:
    """``{label: {test task: [return per run]}}`` over adapt runs of any methods: each run
    adds its return without relabeling (MIER-wR or PEARL) and, when it relabeled, its final
    return (MIER or PEARL + relabeling). Runs of one method are seeds of it."""
    table: dict[str, dict[int, list[float]]] = {}
    for results in runs:
        before, after = results.labels
        for t in results.tasks:
            table.setdefault(before, {}).setdefault(t.task, []).append(t.mier_wr)
            if t.mier:
                table.setdefault(after, {}).setdefault(t.task, []).append(t.final)
    return table


def plot_methods(table: dict[str, dict[int, list[float]]], family: str):
    """Figure 4 of the paper's kind: each method's test return per test task (mean over
    seeds) and over all tasks (mean ± s.e.m. of the per-task means), side by side."""
    tasks = sorted({t for per_task in table.values() for t in per_task})
    n, k = len(tasks), max(len(table), 1)
    width = 0.8 / k
    fig, ax = _figure(min(max(7.0, 0.12 * k * (n + 1) + 4.0), 18.0), 4.6)
    for i, (label, per_task) in enumerate(table.items()):
        offset = (i - (k - 1) / 2) * width
        means = [float(np.mean(per_task[t])) if t in per_task else math.nan for t in tasks]
        ax.bar(np.arange(n) + offset, means, width, label=label, color=f"C{i}")
        finite = [m for m in means if math.isfinite(m)]
        sem = float(np.std(finite, ddof=1) / math.sqrt(len(finite))) if len(finite) > 1 else 0.0
        ax.bar(
            n + 0.6 + offset, np.mean(finite), width, yerr=sem, capsize=4, hatch="//", color=f"C{i}"
        )
    ax.axvline(n - 0.2, color="grey", lw=0.8, ls="--")
    ax.set_xticks([*range(n), n + 0.6], [*map(str, tasks), "mean\n± s.e.m."])
    ax.set_xlabel("test task")
    ax.set_ylabel("test return (one deterministic episode)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(f"{family}: test return by method")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
