"""``python -m mier_pl.compare``: the table and curves hold exactly the runs' numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mier_pl.compare import main

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
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert next(csv.DictReader(out.with_suffix(".csv").open()))["train return"] == "-11.00 ± 1.00"


def test_bad_input_names_the_problem(tmp_path):
    with pytest.raises(SystemExit, match="NAME=DIR"):
        main(["nodir", "--out", str(tmp_path / "x")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="holds no seed runs"):
        main([f"a={tmp_path / 'empty'}", "--out", str(tmp_path / "x")])
