"""Rebuild ``mier_pl/analysis/published/<family>.csv`` from the PEARL authors' published logs.

The PEARL authors published the logs of PEARL and of the baselines of their Figure 3 (MAML,
ProMP, RL²) for the continuous-control benchmarks (oyster's README links the archive,
``results_cont_control.zip``). A public copy is GitHub ``lujiayou123/visikit``,
``results_public/``. Point ``--archive`` at an extracted copy (the folder that holds
``results_public/``, or ``results_public/`` itself)::

    python scripts/published_curves.py --archive /work/published_archive

Runs are found by the env class their ``variant.json`` (PEARL) or ``params.json`` (MAML, ProMP,
RL²) names, so the layout below ``results_public/<method>/`` does not matter. Per family and
method the script keeps the env steps every seed logged, thins them to at most 90 per decade
(the first common logged step at or after each 2-significant-digit grid point: 250 000,
260 000, …, 1 000 000, 1 100 000, …), and writes the mean, min and max over seeds of the logged
return there; nothing is interpolated. ``README.md`` in the output folder lists the sources.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

# Env classes of the archive's runs (PEARL's maml_zoo, the baselines' meta_mb) → our families.
FAMILIES = {
    "HalfCheetahRandVelEnv": "cheetah-vel",
    "HalfCheetahRandDirecEnv": "cheetah-dir",
    "AntRandDirecEnv": "ant-dir",  # forward/backward: PEARL's "ant-forward-backward"
    "HumanoidRandDirec2DEnv": "humanoid-dir",
    "Walker2DRandParamsEnv": "walker-rand-params",
}


@dataclass(frozen=True)
class Source:
    """Where one method's curve is read: its settings file, env-step and return columns."""

    label: str
    settings: str
    steps: str
    value: str
    meaning: str


SOURCES = {
    "pearl": Source(
        "PEARL",
        "variant.json",
        "Number of env steps total",
        "AverageReturn_all_test_tasks",
        "mean return on the held-out test tasks, after PEARL's posterior from online context",
    ),
    "maml": Source(
        "MAML",
        "params.json",
        "n_timesteps",
        "Step_1-AverageReturn",
        "post-update return (Step_1: after the one inner policy-gradient step) on the "
        "iteration's freshly sampled tasks; Step_0 is the pre-update return",
    ),
    "promp": Source(
        "ProMP",
        "params.json",
        "n_timesteps",
        "Step_1-AverageReturn",
        "post-update return (Step_1: after the one inner step) on freshly sampled tasks",
    ),
    "rl2": Source(
        "RL²",
        "params.json",
        "n_timesteps",
        "train-AverageReturn",
        "the only return column: mean over the episodes of each trial (hidden state kept "
        "across them) on the iteration's freshly sampled tasks",
    ),
}
FIELDS = ["method", "env_steps", "mean", "min", "max", "seeds"]


def find_runs(archive: Path) -> dict[tuple[str, str], list[Path]]:
    """``{(family, method): [run dirs]}`` of every run whose env class is one of ours."""
    root = archive / "results_public" if (archive / "results_public").is_dir() else archive
    runs: dict[tuple[str, str], list[Path]] = {}
    for method, source in SOURCES.items():
        for settings in sorted((root / method).rglob(source.settings)):
            env_class = json.loads(settings.read_text())["env"]["$class"].rsplit(".", 1)[-1]
            family = FAMILIES.get(env_class)
            if family and (settings.parent / "progress.csv").is_file():
                runs.setdefault((family, method), []).append(settings.parent)
    return runs


def read_curve(run: Path, source: Source) -> dict[float, float]:
    """``{env steps: return}`` of one run (rows with either value empty are skipped)."""
    out = {}
    with open(run / "progress.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get(source.steps) and row.get(source.value):
                out[float(row[source.steps])] = float(row[source.value])
    return out


def grid_steps(common: list[float]) -> list[float]:
    """The first of ``common`` (sorted) at or after each 2-significant-digit grid point, plus
    the first and last: at most 90 per decade, every one a step all seeds logged."""
    if not common:
        return []
    first, last = common[0], common[-1]
    keep = {first, last}
    decade = 10 ** math.floor(math.log10(max(first, 1.0)))
    j = 0
    while decade <= last:
        for m in range(10, 100):
            g = m * decade / 10
            if g < first or g > last:
                continue
            while common[j] < g:
                j += 1
            keep.add(common[j])
        decade *= 10
    return sorted(keep)


def aggregate(curves: list[dict[float, float]]) -> list[dict[str, float]]:
    """Mean, min and max over seeds at the thinned steps every seed logged."""
    common = sorted(set.intersection(*(set(c) for c in curves)))
    rows = []
    for s in grid_steps(common):
        values = [c[s] for c in curves]
        rows.append(
            {
                "env_steps": int(s),
                "mean": round(sum(values) / len(values), 3),
                "min": round(min(values), 3),
                "max": round(max(values), 3),
                "seeds": len(values),
            }
        )
    return rows


def build(archive: Path, out: Path) -> dict[str, list[dict]]:
    """Write one CSV per family and the README of sources; returns the rows per family."""
    runs = find_runs(archive)
    if not runs:
        raise SystemExit(
            f"error: no runs under {archive}; pass the folder holding results_public/ "
            "(GitHub lujiayou123/visikit)"
        )
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, list[dict]] = {}
    notes: list[str] = []
    order = list(SOURCES)  # PEARL first, then the baselines
    for (family, method), dirs in sorted(
        runs.items(), key=lambda r: (r[0][0], order.index(r[0][1]))
    ):
        source = SOURCES[method]
        rows = aggregate([read_curve(d, source) for d in dirs])
        tables.setdefault(family, []).extend({"method": source.label, **r} for r in rows)
        paths = ", ".join(str(d.relative_to(archive)) for d in dirs)
        notes.append(
            f"- **{family}, {source.label}** ({len(dirs)} seeds, {len(rows)} rows, env steps "
            f"{rows[0]['env_steps']:,} … {rows[-1]['env_steps']:,}): `{paths}`"
        )
    for family, rows in tables.items():
        with open(out / f"{family}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    columns = "\n".join(
        f"- {s.label}: env steps `{s.steps}`, return `{s.value}` ({s.meaning})."
        for s in SOURCES.values()
    )
    (out / "README.md").write_text(
        README.format(columns=columns, runs="\n".join(notes)), encoding="utf-8"
    )
    return tables


README = """\
# Published learning curves (the PEARL authors' logs)

Written by `python scripts/published_curves.py --archive PATH`; do not edit by hand.

Source: the logs the PEARL authors published for their Figure 3 (oyster's README links the
archive, `results_cont_control.zip`), read from the public copy in GitHub
`lujiayou123/visikit` (commit e11a331), folder `results_public/`. Each run is assigned to a
family by the env class its `variant.json` / `params.json` names (`HalfCheetahRandVelEnv` →
cheetah-vel, `HalfCheetahRandDirecEnv` → cheetah-dir, `AntRandDirecEnv` → ant-dir (PEARL's
"ant-forward-backward"), `HumanoidRandDirec2DEnv` → humanoid-dir, `Walker2DRandParamsEnv` →
walker-rand-params); the archive's ant-goal, Hopper and RL² ant-goal runs have no family here.

Columns read from each run's `progress.csv`:

{columns}

Each CSV has one block per method: `method, env_steps, mean, min, max, seeds`, where mean, min
and max are over the seeds' logged returns at that env-step count. Rows are env steps that
*every* seed of the method logged (no interpolation), thinned to at most 90 per decade: the
first common logged step at or after each 2-significant-digit grid point (…, 250 000,
260 000, …, 990 000, 1 000 000, 1 100 000, …), plus the first and last common step. So a row
at 252 000 is PEARL's first cheetah-vel log at or after 0.25 M. The MAML/ProMP/RL² returns are
on tasks sampled afresh from the family's distribution each iteration (they have no fixed test
split), logged every 320 000 (MAML, ProMP) or 40 000 (RL²) env steps, counting the pre- and
post-update samples.

Runs:

{runs}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True, help="folder with results_public/")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "mier_pl" / "analysis" / "published",
        help="where the CSVs go (the package's data folder)",
    )
    args = parser.parse_args(argv)
    for family, rows in build(args.archive, args.out).items():
        methods = sorted({r["method"] for r in rows})
        print(f"{family}: {len(rows)} rows, {', '.join(methods)}")


if __name__ == "__main__":
    main()
