"""``python -m mier_pl compare``: methods or variants side by side, over seeds, against env steps.

Each ``NAME=DIR`` names one method or variant and a directory whose subdirectories are its
seeds' ``fit`` runs (``metrics.csv``; as written with ``--trainer.logger.init_args.save_dir
ROOT --trainer.logger.init_args.name NAME --trainer.logger.init_args.version s<seed>``). A
seed run that holds ``adapt/results.json`` (an ``adapt`` run written into it) adds MIER's
relabeled test return (MIER's, or PEARL + relabeling's for a PEARL run), and one that holds ``final_eval.json`` (``python -m mier_pl evaluate``)
its re-evaluation on every task. The comparison is written as Markdown and CSV (final values, mean ±
std over seeds) and a PNG of the learning curves against env steps; for families that report
success (Meta-World) the success rates too. On a benchmark family (cheetah-vel, cheetah-dir, ant-dir, humanoid-dir,
walker-rand-params; the family is read from the runs' ``config.yaml``, or ``--family``) the
PEARL authors' published curves (PEARL, MAML, ProMP, RL²: :mod:`mier_pl.analysis.published`) are drawn
beside ours, and the table lists their value at the env steps of our last evaluation,
interpolated; ``--no-published`` leaves them out:

    python -m mier_pl compare oracle=runs/point_goal/oracle mier=runs/point_goal/mier \\
        --out docs/learning/point_goal --title "point-goal, 40 epochs"

Only numbers read from the runs go into the outputs.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

from mier_pl.analysis import published
from mier_pl.analysis.report import refuse_duplicates, seeds_label
from mier_pl.envs.registry import FAMILY_NAMES

TRAIN_KEY = "eval/train_return"
TEST_KEYS = ("eval/test_return_mier_wr", "eval/test_return_oracle", "eval/test_return_pearl")
SUCCESS = {"eval/train_return": "eval/train_success"} | {
    key: key.replace("_return", "_success") for key in TEST_KEYS
}  # the success rate logged beside each return by families that report one (Meta-World)
STEPS_KEY = "progress/env_steps"


@dataclass
class SeedRun:
    """One seed's evaluation curves ``{env steps: return}`` and its final adapt result."""

    name: str
    train: dict[float, float]
    test: dict[float, float]
    test_key: str
    mier: float | None = None  # mean test return after relabeling (MIER, or PEARL + relabeling)
    reeval: dict | None = None  # final_eval.json of python -m mier_pl evaluate
    train_success: dict[float, float] = field(default_factory=dict)  # empty: none reported
    test_success: dict[float, float] = field(default_factory=dict)


@dataclass
class Variant:
    name: str
    runs: list[SeedRun] = field(default_factory=list)

    def final(self, what: str) -> np.ndarray:
        if what == "mier":
            return np.array([r.mier for r in self.runs if r.mier is not None])
        if what.startswith("reeval_"):
            split, _, stat = what.removeprefix("reeval_").partition("_")
            stat = stat or "mean"  # "reeval_train_success": the re-evaluated success rate
            return np.array(
                [
                    r.reeval[split][stat]
                    for r in self.runs
                    if r.reeval and stat in r.reeval.get(split, {})
                ]
            )
        curves = [getattr(r, what) for r in self.runs]
        return np.array([c[max(c)] for c in curves if c])

    @property
    def reports_success(self) -> bool:
        return any(r.train_success for r in self.runs)


def read_seed(run: Path, adapt_dir: str = "adapt") -> SeedRun:
    """Curves of one ``fit`` run; evaluation rows carry the env steps of their epoch."""
    path = run / "metrics.csv"
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist; pass directories of fit runs per seed")
    train: dict[float, float] = {}
    test: dict[float, float] = {}
    success: dict[str, dict[float, float]] = {"train": {}, "test": {}}
    test_key = ""
    steps_by_epoch: dict[int, float] = {}
    rows = list(csv.DictReader(path.open()))
    for row in rows:
        if row.get(STEPS_KEY):
            steps_by_epoch[int(float(row["epoch"]))] = float(row[STEPS_KEY])
    for row in rows:
        epoch = int(float(row["epoch"])) if row.get("epoch") else None
        steps = steps_by_epoch.get(epoch) if epoch is not None else None
        if steps is None:
            continue
        if row.get(TRAIN_KEY):
            train[steps] = float(row[TRAIN_KEY])
        for key in TEST_KEYS:
            if row.get(key):
                test[steps], test_key = float(row[key]), key
        for split, key in (("train", TRAIN_KEY), ("test", test_key)):
            if key and row.get(SUCCESS[key]):
                success[split][steps] = float(row[SUCCESS[key]])
    if not train:
        raise SystemExit(f"error: {path} holds no {TRAIN_KEY}; was evaluation on?")
    mier = None
    results = run / adapt_dir / "results.json"
    if results.is_file():
        payload = json.loads(results.read_text())
        # method "pearl" is PEARL's protocol without relabeling: the fit's test return already
        if payload.get("method", "mier") in ("mier", "pearl_relabel"):
            mier = float(payload["summary"]["mier_mean"])
    final = run / "final_eval.json"
    reeval = json.loads(final.read_text()) if final.is_file() else None
    return SeedRun(run.name, train, test, test_key, mier, reeval, success["train"], success["test"])


def read_variant(name: str, directory: Path, adapt_dir: str = "adapt") -> Variant:
    if not directory.is_dir():
        raise SystemExit(f"error: {directory} (variant {name!r}) is not a directory")
    seeds = sorted(p for p in directory.iterdir() if (p / "metrics.csv").is_file())
    if not seeds:
        raise SystemExit(f"error: {directory} holds no seed runs (subdirectories with metrics.csv)")
    return Variant(name, [read_seed(p, adapt_dir) for p in seeds])


def run_family(directories: list[Path]) -> str | None:
    """The task family the first seed run's ``config.yaml`` names (None if it has none)."""
    for directory in directories:
        for config in sorted(directory.glob("*/config.yaml")):
            family = (yaml.safe_load(config.read_text()) or {}).get("data", {}).get("family")
            if family:
                return family
    return None


def published_rows(curves: dict[str, published.Curve], env_steps: float) -> list[dict[str, str]]:
    """One row per published method: its test return interpolated at ``env_steps`` (our last
    evaluation), mean (min … max over its seeds); "—" outside its logged range."""
    rows = []
    for curve in curves.values():
        value = curve.at(env_steps)
        rows.append(
            {
                "variant": curve.label,
                "seeds": str(curve.seeds),
                "env steps": f"{env_steps:,.0f}",
                "test return (no relabeling)": "—"
                if value is None
                else f"{value[0]:.2f} ({value[1]:.2f} … {value[2]:.2f})",
                "per seed (train / test)": "test return interpolated at our last evaluation's "
                "env steps: mean (min … max) over the published seeds",
            }
        )
    return rows


def _fmt(values: np.ndarray) -> str:
    if values.size == 0:
        return "—"
    return f"{values.mean():.2f} ± {values.std():.2f}"


def table_rows(variants: list[Variant]) -> list[dict[str, str]]:
    rows = []
    for v in variants:
        steps = sorted({max(r.train) for r in v.runs})
        rows.append(
            {
                "variant": v.name,
                "seeds": str(len(v.runs)),
                "env steps": "/".join(f"{s:,.0f}" for s in steps),
                "train return": _fmt(v.final("train")),
                "test return (no relabeling)": _fmt(v.final("test")),
                "test return, relabeled (MIER / PEARL + relabeling)": _fmt(v.final("mier")),
                "train, all tasks re-evaluated": _fmt(v.final("reeval_train")),
                "test, all tasks re-evaluated": _fmt(v.final("reeval_test")),
                "per seed (train / test)": ", ".join(
                    f"{r.name}: {r.train[max(r.train)]:.1f} / "
                    + (f"{r.test[max(r.test)]:.1f}" if r.test else "—")
                    for r in v.runs
                ),
            }
        )
    if any(v.reports_success for v in variants):  # Meta-World: success rates beside returns
        for row, v in zip(rows, variants):
            row["train success"] = _fmt(v.final("train_success"))
            row["test success (no relabeling)"] = _fmt(v.final("test_success"))
            row["train success, all tasks re-evaluated"] = _fmt(v.final("reeval_train_success"))
            row["test success, all tasks re-evaluated"] = _fmt(v.final("reeval_test_success"))
    return rows


def plot(
    variants: list[Variant],
    out: Path,
    title: str,
    reference: dict[str, published.Curve] | None = None,
) -> None:
    """Return curves (train, test); below them success-rate curves where a run reports them.
    Published curves (``reference``) go on the test panel (on the train panel for a family whose only
    tasks are its train tasks, cheetah-dir and ant-dir), up to our runs' last env steps."""
    success = any(v.reports_success for v in variants)
    legend_rows = 0.9 if reference else 0.0  # inches under the panels for the published legend
    fig, axes = plt.subplots(
        2 if success else 1, 2, figsize=(11, (7.2 if success else 3.8) + legend_rows)
    )
    axes = np.atleast_2d(axes)
    panels = [("train", "test")] + ([("train_success", "test_success")] if success else [])
    for i, v in enumerate(variants):
        for row, whats in zip(axes, panels):
            for ax, what in zip(row, whats):
                curves = [getattr(r, what) for r in v.runs if getattr(r, what)]
                if not curves:
                    continue
                steps = sorted(set.intersection(*(set(c) for c in curves)))
                values = np.array([[c[s] for s in steps] for c in curves])
                mean, std = values.mean(0), values.std(0)
                ax.plot(
                    steps,
                    mean,
                    color=f"C{i}",
                    label=f"{v.name} ({seeds_label(len(curves))})",
                )
                ax.fill_between(steps, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    if reference:
        has_test = any(r.test for v in variants for r in v.runs)
        xmax = max(max(r.train) for v in variants for r in v.runs)
        ax = axes[0, 1 if has_test else 0]
        if published.draw(ax, reference, xmax):
            handles, labels = ax.get_legend_handles_labels()
            fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7)
            for other in axes.flat:  # one env-step axis for both panels
                other.set_xlim(ax.get_xlim())
    axes[0, 0].set_title("train tasks: eval/train_return")
    axes[0, 1].set_title("test tasks, before relabeling")
    if success:
        axes[1, 0].set_title("train tasks: eval/train_success")
        axes[1, 1].set_title("test tasks, before relabeling: success rate")
    for row, label in zip(axes, ("return", "success rate")):
        for ax in row:
            ax.set_xlabel("env steps (meta-training samples)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    bands = "; published logs: mean and min-max over their seeds" if reference else ""
    fig.suptitle(f"{title}: mean ± std over seeds{bands}")
    fig.tight_layout(rect=(0, legend_rows / fig.get_figheight(), 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mier_pl compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("variants", nargs="+", help="NAME=DIR, DIR holding one run per seed")
    parser.add_argument("--out", type=Path, required=True, help="output prefix (no suffix)")
    parser.add_argument("--title", default="comparison")
    parser.add_argument(
        "--adapt_dir", default="adapt", help="the adapt run's directory inside each seed run"
    )
    parser.add_argument(
        "--family",
        default=None,
        help="the task family, for the published curves (default: the runs' config.yaml)",
    )
    parser.add_argument(
        "--no-published",
        dest="published",
        action="store_false",
        help="leave out the PEARL authors' published curves (mier_pl.analysis.published)",
    )
    return parser


def main(argv: list[str] | None = None) -> list[dict[str, str]]:
    args = build_parser().parse_args(argv)
    specs = []
    for spec in args.variants:
        name, sep, directory = spec.rpartition("=")  # a name may hold "=", a path rarely
        if not sep or not name or not directory:
            raise SystemExit(f"error: {spec!r}: write each variant as NAME=DIR")
        if name in (n for n, _ in specs):  # two rows of one name cannot be told apart
            raise SystemExit(f"error: variant name {name!r} is given twice; name each once")
        specs.append((name, Path(directory)))
    refuse_duplicates([d for _, d in specs], "variant directory")
    variants = [read_variant(name, directory, args.adapt_dir) for name, directory in specs]
    rows = table_rows(variants)
    curves = {}
    if args.family is not None and args.family not in FAMILY_NAMES:
        raise SystemExit(
            f"error: unknown --family {args.family!r}; valid families are: {', '.join(FAMILY_NAMES)}"
        )
    if args.published:
        family = args.family or run_family([Path(s.rpartition("=")[2]) for s in args.variants])
        curves = published.load(family)
        last = max(max(r.train) for v in variants for r in v.runs)
        rows += [{h: "—" for h in rows[0]} | row for row in published_rows(curves, last)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = list(rows[0])
    lines = [f"**{args.title}** (final evaluation; mean ± std over seeds)", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(variants, args.out.with_suffix(".png"), args.title, curves)
    print("\n".join(lines))
    print(f"wrote {args.out}.md, .csv and .png")
    return rows


if __name__ == "__main__":
    main()
