"""The paper's Figure 2 for a family whose test split is in distribution (a PEARL benchmark).

``python -m mier_pl reproduce`` calls :func:`write_figure2` instead of the Figure 4-5 report
when the family declares ``in_distribution`` (:class:`mier_pl.envs.meta_env.MetaEnv`): each
method's in-run test return against env steps, mean ± std over seeds (MIER-wR for MIER: φ
adapted on the test task, no relabeling; the oracle; our PEARL), beside the PEARL authors'
published curves (:mod:`mier_pl.analysis.published`). A family with train tasks only (cheetah-dir,
ant-dir: the 2 directions are the whole family, as in PEARL's logs) is shown on those tasks.

Writes ``figure2.png``, ``report.csv`` (every point drawn: method, env steps, mean, std, min,
max, seeds; published rows marked "(published logs)"), ``report.json`` and ``report.md`` (each
method's last evaluation, and the published value at those env steps, interpolated).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mier_pl.analysis import published
from mier_pl.analysis.report import epoch_series, seeds_label

TEST_KEYS = {  # each method's in-run test evaluation, before any relabeling
    "mier": ("mier_wr", "eval/test_return_mier_wr"),
    "oracle": ("oracle", "eval/test_return_oracle"),
    "pearl": ("pearl", "eval/test_return_pearl"),
}
TRAIN_KEY = "eval/train_return"
STEPS_KEY = "progress/env_steps"


def seed_curve(run: Path, key: str) -> dict[float, float]:
    """``{env steps: value}`` of ``key`` at each evaluation of one fit run."""
    values = epoch_series(run / "metrics.csv", key)
    steps = epoch_series(run / "metrics.csv", STEPS_KEY)
    return {steps[e]: v for e, v in sorted(values.items()) if e in steps}


def method_curves(runs: dict[str, list[Path]]) -> tuple[dict[str, dict], str]:
    """Per method: env steps every seed evaluated at and the values ``[seeds, steps]``; and the
    split shown ("test", or "train" for a family with train tasks only)."""
    split = "test"
    if not any(seed_curve(r, TEST_KEYS[m][1]) for m, rs in runs.items() for r in rs):
        split = "train"
    out = {}
    for method, paths in runs.items():
        label, key = TEST_KEYS[method]
        key = key if split == "test" else TRAIN_KEY
        curves = [c for c in (seed_curve(p, key) for p in paths) if c]
        if not curves:
            continue
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        out[label] = {
            "seeds": len(curves),
            "steps": steps,
            "values": np.array([[c[s] for s in steps] for c in curves]),
        }
    return out, split


def write_figure2(
    out: Path,
    runs: dict[str, list[Path]],
    meta: dict,
    labels: dict[str, str],
    colors: dict[str, str],
    show_published: bool = True,
) -> dict:
    """Figure 2, its table and data for ``runs`` (``{method: [fit run dirs, one per seed]}``)."""
    out.mkdir(parents=True, exist_ok=True)
    curves, split = method_curves(runs)
    if not curves:
        raise SystemExit(f"error: the runs {runs} logged no {TRAIN_KEY}; was evaluation on?")
    reference = published.load(meta["family"]) if show_published else {}
    last = max(c["steps"][-1] for c in curves.values())
    table = {}
    for label, c in curves.items():
        final = c["values"][:, -1]
        table[label] = {
            "label": labels[label],
            "seeds": c["seeds"],
            "env_steps": c["steps"][-1],
            "mean": float(final.mean()),
            "std": float(final.std()),
            "per_seed": final.tolist(),
        }
    reference_table = {}
    for name, curve in reference.items():
        value = curve.at(last)
        reference_table[name] = {
            "label": curve.label,
            "seeds": curve.seeds,
            "env_steps": last,
            "mean": value and value[0],
            "min": value and value[1],
            "max": value and value[2],
        }
    meta = {**meta, "split": split, "published": show_published}
    payload = {"meta": meta, "methods": table, "published": reference_table}
    (out / "report.json").write_text(json.dumps(payload, indent=1))
    _write_csv(out / "report.csv", curves, labels, reference, last)
    (out / "report.md").write_text(_markdown(meta, table, reference_table))
    _plot(out / "figure2.png", curves, labels, colors, reference, last, meta)
    return payload


def _write_csv(path: Path, curves: dict, labels: dict, reference: dict, last: float) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["method", "env_steps", "mean", "std", "min", "max", "seeds"])
        for label, c in curves.items():
            v = c["values"]
            for j, s in enumerate(c["steps"]):
                col = v[:, j]
                w.writerow(
                    [labels[label], s, col.mean(), col.std(), col.min(), col.max(), len(col)]
                )
        for curve in reference.values():
            for j in np.flatnonzero(curve.steps <= last):
                w.writerow(
                    [
                        curve.label,
                        curve.steps[j],
                        curve.mean[j],
                        "",
                        curve.low[j],
                        curve.high[j],
                        curve.seeds,
                    ]
                )


def _markdown(meta: dict, table: dict, reference_table: dict) -> str:
    where = "test" if meta["split"] == "test" else "train (the family's only tasks)"
    lines = [
        f"# {meta['family']}: Figure 2, {where} return against env steps "
        f"({meta['config']}, budget {meta['budget']})",
        "",
        f"Seeds {', '.join(map(str, meta['seeds']))}. Each method's in-run evaluation at its "
        "last epoch (MIER-wR: φ adapted on the task, no relabeling), mean ± std over seeds. "
        "Written by `python -m mier_pl reproduce`.",
        "",
        "| method | env steps | mean ± std over seeds | per seed |",
        "|---|---|---|---|",
    ]
    for row in sorted(table.values(), key=lambda r: -r["mean"]):
        per_seed = ", ".join(f"{v:.2f}" for v in row["per_seed"])
        lines.append(
            f"| {row['label']} | {row['env_steps']:,.0f} | {row['mean']:.2f} ± {row['std']:.2f} "
            f"| {per_seed} |"
        )
    for row in reference_table.values():
        value = (
            "— (outside its logged range)"
            if row["mean"] is None
            else f"{row['mean']:.2f} (min {row['min']:.2f}, max {row['max']:.2f})"
        )
        lines.append(
            f"| {row['label']} | {row['env_steps']:,.0f} | {value} | {row['seeds']} seeds, "
            "interpolated between their logs |"
        )
    if reference_table:
        lines += [
            "",
            "Published curves: `mier_pl/analysis/published/README.md` (sources and columns).",
        ]
    return "\n".join(lines) + "\n"


def _plot(
    path: Path,
    curves: dict,
    labels: dict,
    colors: dict,
    reference: dict,
    last: float,
    meta: dict,
) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2 + (0.9 if reference else 0.0)))
    for label, c in curves.items():
        mean, std = c["values"].mean(0), c["values"].std(0)
        ax.plot(
            c["steps"],
            mean,
            color=colors[label],
            label=f"{labels[label]} ({seeds_label(c['seeds'])})",
        )
        ax.fill_between(c["steps"], mean - std, mean + std, color=colors[label], alpha=0.2)
    drawn = published.draw(ax, reference, last) if reference else []
    where = "test tasks" if meta["split"] == "test" else "train tasks (the family's only ones)"
    ax.set(xlabel="env steps (meta-training samples)", ylabel=f"return, {where}")
    ax.set_title(
        f"{meta['family']}: mean ± std over seeds" + ("; published: min-max" if drawn else "")
    )
    ax.grid(alpha=0.3)
    if drawn:
        ax.set_xlim(left=0)
        handles, names = ax.get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=2, fontsize=6.5)
        fig.tight_layout(rect=(0, 0.9 / fig.get_figheight(), 1, 1))
    else:
        ax.legend(fontsize=8)
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
