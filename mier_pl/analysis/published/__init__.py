"""The PEARL authors' published learning curves (PEARL, MAML, ProMP, RL²), drawn beside ours.

``<family>.csv`` in this folder holds, per method, the mean, min and max over seeds of the
published test return against env steps (README.md: sources and columns;
``scripts/published_curves.py`` rebuilds them from the archive). They are package data, so an
installed ``mier_pl`` finds them without network. Families without a CSV have no published
curves (:func:`load` returns ``{}``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent
SUFFIX = " (published logs)"  # every legend entry and table row of a published curve says so
STYLE = {  # dashed, in colours the method runs' C0-C3 do not use
    "PEARL": "black",
    "MAML": "tab:olive",
    "ProMP": "tab:brown",
    "RL²": "tab:pink",
}


@dataclass(frozen=True)
class Curve:
    """One method's published curve: env steps and mean / min / max over its seeds."""

    method: str
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int

    @property
    def label(self) -> str:
        return f"{self.method}{SUFFIX}"

    def at(self, env_steps: float) -> tuple[float, float, float] | None:
        """(mean, min, max) linearly interpolated at ``env_steps``; None outside the logged
        range (never extrapolated)."""
        if not self.steps[0] <= env_steps <= self.steps[-1]:
            return None
        return tuple(
            float(np.interp(env_steps, self.steps, y)) for y in (self.mean, self.low, self.high)
        )


def families() -> list[str]:
    """The families that have published curves."""
    return sorted(p.stem for p in FOLDER.glob("*.csv"))


def load(family: str | None) -> dict[str, Curve]:
    """``{method: Curve}`` for ``family`` in the CSV's order; ``{}`` when it has none."""
    path = FOLDER / f"{family}.csv"
    if family is None or not path.is_file():
        return {}
    rows: dict[str, list[dict[str, str]]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["method"], []).append(row)
    curves = {}
    for method, block in rows.items():
        cols = {
            k: np.array([float(r[k]) for r in block]) for k in ("env_steps", "mean", "min", "max")
        }
        order = np.argsort(cols["env_steps"])
        curves[method] = Curve(
            method,
            cols["env_steps"][order],
            cols["mean"][order],
            cols["min"][order],
            cols["max"][order],
            int(block[0]["seeds"]),
        )
    return curves


def draw(ax, curves: dict[str, Curve], xmax: float) -> list:
    """Each curve's mean (dashed) and min-max band up to ``xmax`` env steps (the range of our
    runs; a method with no log there is left out). A method whose logs go on past ``xmax``
    (MAML and ProMP ran 320 M env steps, RL² 40 M) also gets a dotted line at its final mean,
    as the PEARL paper's Figure 3 marks them, named in its legend entry. Returns the lines."""
    lines = []
    for curve in curves.values():
        keep = curve.steps <= xmax
        if not keep.any():
            continue
        color = STYLE.get(curve.method, "gray")
        label = f"{curve.label}, {curve.seeds} seeds"
        if curve.steps[-1] > xmax:
            label += f"; dotted: final {curve.mean[-1]:.0f} at {curve.steps[-1] / 1e6:.3g} M"
            ax.axhline(curve.mean[-1], color=color, linestyle=":", linewidth=1)
        (line,) = ax.plot(
            curve.steps[keep],
            curve.mean[keep],
            "--",
            marker="." if keep.sum() < 10 else None,
            color=color,
            label=label,
        )
        ax.fill_between(
            curve.steps[keep], curve.low[keep], curve.high[keep], color=color, alpha=0.1
        )
        lines.append(line)
    return lines
