"""Results files of ``adapt``: exact round trip, CSV layout, summary numbers, figures."""

from __future__ import annotations

import csv
import io

import pytest
from rich.console import Console

from mier_pl.analysis.results import (
    AdaptResults,
    TaskResult,
    load_results,
    summary_table,
    write_plots,
    write_results,
)


def results() -> AdaptResults:
    return AdaptResults(
        "point-goal",
        "x/last.ckpt",
        {"epochs": 2, "loss_threshold": None},
        [
            TaskResult(1, "angle=4.71", -20.0, [-12.0, -10.0], seconds=3.5),
            TaskResult(
                4, "angle=5.34", -30.0, [-22.0], model_fallback=True, model_report="diverged"
            ),
        ],
    )


def test_round_trip_and_summary(tmp_path):
    write_results(results(), tmp_path)
    back = load_results(tmp_path)
    assert back == results()
    s = back.summary()
    assert s["mier_wr_mean"] == -25.0 and s["mier_mean"] == -16.0 and s["model_fallbacks"] == 1
    assert s["mier_sem"] == pytest.approx(6.0)  # std(ddof=1) of (-10, -22) / sqrt(2)


def test_csv_has_one_row_per_task_and_pads_short_curves(tmp_path):
    write_results(results(), tmp_path)
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["task"] for r in rows] == ["1", "4"]
    assert (
        rows[0]["mier"] == "-10.0" and rows[0]["epoch_1"] == "-12.0" and rows[1]["epoch_2"] == "nan"
    )
    assert rows[1]["model_fallback"] == "True"


def test_table_and_plots(tmp_path):
    console = Console(file=io.StringIO(), width=120)
    console.print(summary_table(results()))
    text = console.file.getvalue()
    assert "-25.00 ± 5.00" in text and "-16.00 ± 6.00" in text and "fallback" in text
    paths = write_plots(results(), tmp_path)
    assert [p.name for p in paths] == ["returns.png", "comparison.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_missing_results_name_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapt run"):
        load_results(tmp_path)


def test_success_rates_reach_the_summary_and_round_trip(tmp_path):
    from mier_pl.analysis.results import (
        AdaptResults,
        TaskResult,
        load_results,
        summary_table,
        write_results,
    )

    tasks = [
        TaskResult(0, "a", 1.0, [2.0, 3.0], mier_wr_success=0.0, mier_success=[1.0, 1.0]),
        TaskResult(1, "b", 1.0, [2.0, 3.0], mier_wr_success=1.0, mier_success=[0.0, 1.0]),
    ]
    results = AdaptResults("ml1-reach", "x.ckpt", {}, tasks)
    s = results.summary()
    assert s["mier_wr_success_rate"] == 0.5 and s["mier_success_rate"] == 1.0
    assert (s["mier_success_rate_epoch_1"], s["mier_success_rate_epoch_2"]) == (0.5, 1.0)
    write_results(results, tmp_path)
    back = load_results(tmp_path)
    assert back.tasks[1].mier_success == [0.0, 1.0] and back.summary() == s
    assert "success rate: MIER-wR 0.50, MIER 1.00" in str(summary_table(back).caption)
    # families without success: no success keys at all
    plain = AdaptResults("point-goal", "x.ckpt", {}, [TaskResult(0, "a", 1.0, [2.0])])
    assert not any("success" in k for k in plain.summary())
