"""``python -m mier_pl compare``: the table and curves hold exactly the runs' numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from mier_pl.analysis.compare import main

FIELDS = ["epoch", "step", "progress/env_steps", "eval/train_return", "eval/test_return_mier_wr"]


def write_run(path: Path, train: list[float], test: list[float], key: str = FIELDS[-1]) -> None:
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*FIELDS[:-1], key])
        w.writeheader()
        for epoch, (a, b) in enumerate(zip(train, test)):
            steps = 1000 * (epoch + 1)
            row = {"epoch": epoch, "step": 10 * epoch, "progress/env_steps": steps}
            w.writerow({**row, "eval/train_return": a, key: b})


def test_final_values_are_means_and_stds_over_seeds(tmp_path):
    write_run(tmp_path / "mier" / "s0", [-20, -10], [-30, -16])
    write_run(tmp_path / "mier" / "s1", [-20, -12], [-30, -20])
    write_run(tmp_path / "oracle" / "s0", [-9, -4], [-9, -5], key="eval/test_return_oracle")
    (tmp_path / "mier" / "s1" / "adapt").mkdir()
    (tmp_path / "mier" / "s1" / "adapt" / "results.json").write_text(
        json.dumps({"summary": {"mier_mean": -7.5}})
    )
    (tmp_path / "mier" / "s0" / "final_eval.json").write_text(
        json.dumps({"train": {"mean": -6.0}, "test": {"mean": -9.0}})
    )
    out = tmp_path / "out" / "cmp"
    rows = main([f"mier={tmp_path / 'mier'}", f"oracle={tmp_path / 'oracle'}", "--out", str(out)])
    mier, oracle = rows
    assert mier["seeds"] == "2" and mier["env steps"] == "2,000"
    assert not any("success" in column for column in mier)  # the family reports none
    assert mier["train return"] == "-11.00 ± 1.00"  # final values -10 and -12
    assert mier["test return (no relabeling)"] == "-18.00 ± 2.00"
    assert (
        mier["test return, relabeled (MIER / PEARL + relabeling)"] == "-7.50 ± 0.00"
    )  # the one seed that has it
    assert (
        oracle["train return"] == "-4.00 ± 0.00"
        and oracle["test return (no relabeling)"] == "-5.00 ± 0.00"
    )
    assert "| mier | 2 | 2,000 | -11.00 ± 1.00" in out.with_suffix(".md").read_text()
    assert Image.open(out.with_suffix(".png")).size == (1210, 418)  # one row of panels
    assert next(csv.DictReader(out.with_suffix(".csv").open()))["train return"] == "-11.00 ± 1.00"


def test_bad_input_names_the_problem(tmp_path):
    with pytest.raises(SystemExit, match="NAME=DIR"):
        main(["nodir", "--out", str(tmp_path / "x")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="holds no seed runs"):
        main([f"a={tmp_path / 'empty'}", "--out", str(tmp_path / "x")])


def test_success_rates_are_reported_beside_returns(tmp_path):
    """Meta-World runs log eval/train_success and the test split's success beside the returns:
    the table gains their final values (and the re-evaluated ones), the plot a success row."""
    for name, key, train_success, test_success in (
        ("mier", "eval/test_return_mier_wr", [0.0, 0.2], [0.0, 0.4]),
        ("oracle", "eval/test_return_oracle", [0.1, 0.9], [0.2, 0.6]),
    ):
        run = tmp_path / name / "s0"
        write_run(run, [800.0, 3000.0], [700.0, 2900.0], key=key)
        rows = list(csv.DictReader((run / "metrics.csv").open()))
        success_key = key.replace("_return", "_success")
        with open(run / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[*rows[0], "eval/train_success", success_key])
            w.writeheader()
            for row, a, b in zip(rows, train_success, test_success):
                w.writerow({**row, "eval/train_success": a, success_key: b})
    (tmp_path / "mier" / "s0" / "final_eval.json").write_text(
        json.dumps({"train": {"mean": 3100.0, "success": 0.24}, "test": {"mean": 3000.0}})
    )
    out = tmp_path / "cmp"
    mier, oracle = main(
        [f"mier={tmp_path / 'mier'}", f"oracle={tmp_path / 'oracle'}", "--out", str(out)]
    )
    assert (
        mier["train success"] == "0.20 ± 0.00"
        and mier["test success (no relabeling)"] == "0.40 ± 0.00"
    )
    assert (
        oracle["train success"] == "0.90 ± 0.00"
        and oracle["test success (no relabeling)"] == "0.60 ± 0.00"
    )
    assert mier["train success, all tasks re-evaluated"] == "0.24 ± 0.00"
    assert mier["test success, all tasks re-evaluated"] == "—"  # final_eval.json has none
    assert oracle["train success, all tasks re-evaluated"] == "—"
    assert Image.open(out.with_suffix(".png")).size == (1210, 792)  # two rows of panels
