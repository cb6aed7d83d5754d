"""``python -m mier_pl.report`` aggregates runs into mean ± std."""

from __future__ import annotations

import csv

import pytest

from mier_pl.report import main


def _run(path, values):
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "step", "eval/train_return", "sac/alpha"])
        w.writeheader()
        for epoch, v in enumerate(values):
            w.writerow({"epoch": epoch, "step": epoch, "sac/alpha": 0.5})
            w.writerow({"epoch": epoch, "step": epoch, "eval/train_return": v})


def test_report_mean_and_std_over_seeds(tmp_path):
    runs = [tmp_path / f"version_{i}" for i in range(3)]
    for run, values in zip(runs, ([-30, -20], [-28, -10], [-26, -15])):
        _run(run, values)
    main([*map(str, runs), "--metrics", "eval/train_return", "--out", str(tmp_path / "r")])
    with open(tmp_path / "r" / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["epoch"], r["mean"]) for r in rows] == [("0", "-28.0000"), ("1", "-15.0000")]
    assert float(rows[1]["std"]) == pytest.approx(((25 + 25 + 0) / 3) ** 0.5, abs=1e-4)
    assert (tmp_path / "r" / "report.png").stat().st_size > 10_000


def test_report_names_a_directory_without_metrics(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.csv does not exist"):
        main([str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
