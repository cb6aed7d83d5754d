"""The published curves: the committed CSVs hold the PEARL authors' numbers, and
``scripts/published_curves.py`` reads and aggregates an archive as documented."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mier_pl.analysis import published

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "published_curves", ROOT / "scripts" / "published_curves.py"
)
script = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = script  # its dataclasses look their module up
spec.loader.exec_module(script)


@pytest.mark.parametrize(
    ("steps", "mean", "low", "high"),
    [
        # PEARL's cheetah-vel logs, 5 seeds: the first log at or after 0.25 M and 0.35 M
        (252_000, -84.8, -96.1, -76.0),
        (352_000, -58.6, -66.0, -52.6),
        (500_000, -44.6, -51.8, -41.8),
        (1_000_000, -30.5, -33.6, -27.6),
    ],
)
def test_committed_cheetah_vel_csv_holds_pearls_published_anchors(steps, mean, low, high):
    pearl = published.load("cheetah-vel")["PEARL"]
    assert pearl.seeds == 5
    i = list(pearl.steps).index(steps)
    assert (pearl.mean[i], pearl.low[i], pearl.high[i]) == pytest.approx(
        (mean, low, high), abs=0.05
    )


def test_every_benchmark_family_has_pearl_and_the_baselines():
    assert published.families() == [
        "ant-dir",
        "cheetah-dir",
        "cheetah-vel",
        "humanoid-dir",
        "walker-rand-params",
    ]
    for family in published.families():
        curves = published.load(family)
        assert list(curves) == ["PEARL", "MAML", "ProMP", "RL²"], family
        assert curves["PEARL"].seeds == 5 and curves["MAML"].seeds == 3
        for c in curves.values():
            assert (c.low <= c.mean + 1e-9).all() and (c.mean <= c.high + 1e-9).all()
    assert published.load("point-goal") == {} and published.load(None) == {}


def test_interpolation_stays_inside_the_logged_range():
    pearl = published.load("cheetah-vel")["PEARL"]
    # the CSV's rows at 240 000 (mean -105.643, min -123.3) and 252 000 (-84.808, -96.121)
    assert pearl.at(246_000)[:2] == pytest.approx(((-105.643 - 84.808) / 2, (-123.3 - 96.121) / 2))
    assert pearl.at(249_000)[0] == pytest.approx(-105.643 + 0.75 * (105.643 - 84.808))
    assert pearl.at(252_000) == pytest.approx((-84.808, -96.121, -76.02))
    assert pearl.at(100_000) is None and pearl.at(3e6) is None  # never extrapolated


def test_grid_keeps_the_first_common_log_at_or_after_each_two_digit_step():
    logged = list(range(204_000, 2_200_001, 4_000))  # PEARL cheetah-vel: every 4 000 steps
    kept = script.grid_steps([float(s) for s in logged])
    # 204 000 (first), 210 000 … 990 000 (79 grid points), 1.0 M … 2.2 M (13)
    assert len(kept) == 1 + 79 + 13
    assert {252_000, 352_000, 500_000, 1_000_000, 2_200_000} <= set(kept)
    assert 248_000 not in kept and 250_000 not in kept


def _run(folder: Path, settings: str, env_class: str, header: list[str], rows: list[list]) -> None:
    folder.mkdir(parents=True)
    (folder / settings).write_text(json.dumps({"env": {"$class": f"pkg.envs.{env_class}"}}))
    with open(folder / "progress.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_script_reads_the_columns_and_aggregates_over_seeds(tmp_path):
    archive = tmp_path / "archive"
    pearl = archive / "results_public" / "pearl" / "half-cheetah-vel"
    header = [
        "Number of env steps total",
        "AverageReturn_all_train_tasks",
        "AverageReturn_all_test_tasks",
    ]
    _run(pearl / "0", "variant.json", "HalfCheetahRandVelEnv", header,
         [[1000, 0, -10], [2000, 0, -8], [3000, 0, -6], [4000, 0, -4]])  # fmt: skip
    _run(pearl / "1", "variant.json", "HalfCheetahRandVelEnv", header,
         [[1000, 0, -20], [2000, 0, -10], [3000, 0, -2]])  # fmt: skip
    # MAML's runs lie flat under maml/; the env class says the family; Step_1 is post-update
    maml = archive / "results_public" / "maml"
    header = ["n_timesteps", "Step_0-AverageReturn", "Step_1-AverageReturn"]
    _run(
        maml / "a", "params.json", "HalfCheetahRandVelEnv", header, [[320, -99, -5], [640, -99, -3]]
    )
    _run(maml / "b", "params.json", "AntRandGoalEnv", header, [[320, -99, -1]])  # not a family here
    out = tmp_path / "out"
    tables = script.build(archive, out)
    assert list(tables) == ["cheetah-vel"]
    rows = list(csv.DictReader((out / "cheetah-vel.csv").open(encoding="utf-8")))
    got = [(r["method"], int(r["env_steps"]), float(r["mean"]), float(r["min"]), float(r["max"]), int(r["seeds"])) for r in rows]  # fmt: skip
    assert got == [
        # steps both PEARL seeds logged (4000: seed 0 only); mean, min, max over the two
        ("PEARL", 1000, -15.0, -20.0, -10.0, 2),
        ("PEARL", 2000, -9.0, -10.0, -8.0, 2),
        ("PEARL", 3000, -4.0, -6.0, -2.0, 2),
        ("MAML", 320, -5.0, -5.0, -5.0, 1),
        ("MAML", 640, -3.0, -3.0, -3.0, 1),
    ]
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "results_public/pearl/half-cheetah-vel/0" in readme and "Step_1-AverageReturn" in readme
    with pytest.raises(SystemExit, match="no runs"):
        script.build(tmp_path / "nothing", out)


def test_the_csvs_are_package_data_so_an_installed_mier_pl_finds_them():
    """pyproject's package-data covers every data file of mier_pl/analysis/published/ (a plain
    ``pip install .`` ships them; the wheel was checked to hold them)."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = settings["package-data"]["mier_pl.analysis.published"]
    data = [p.name for p in published.FOLDER.iterdir() if p.suffix in (".csv", ".md")]
    assert len(data) == 6
    assert all(any(fnmatch.fnmatch(name, pat) for pat in patterns) for name in data)


def test_the_families_with_published_curves_are_the_in_distribution_ones():
    """reproduce draws Figure 2 for ``in_distribution`` families; each has published curves."""
    from mier_pl.envs.registry import _classes

    in_distribution = sorted(f for f, cls in _classes().items() if cls.in_distribution)
    assert in_distribution == published.families()
