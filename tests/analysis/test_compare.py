"""``python -m mier_pl compare``: the table and curves hold exactly the runs' numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from mier_pl.analysis.compare import main

FIELDS = ["epoch", "step", "progress/env_steps", "eval/train_return", "eval/test_return_mier_wr"]


def write_run(
    path: Path,
    train: list[float],
    test: list[float],
    key: str = FIELDS[-1],
    steps: list[float] | None = None,
) -> None:
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*FIELDS[:-1], key])
        w.writeheader()
        for epoch, (a, b) in enumerate(zip(train, test)):
            env_steps = steps[epoch] if steps else 1000 * (epoch + 1)
            row = {"epoch": epoch, "step": 10 * epoch, "progress/env_steps": env_steps}
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


def test_a_variant_name_or_directory_given_twice_is_refused(tmp_path):
    write_run(tmp_path / "mier" / "s0", [-20, -10], [-30, -16])
    write_run(tmp_path / "pearl" / "s0", [-20, -10], [-30, -16])
    out = str(tmp_path / "cmp")
    with pytest.raises(SystemExit) as exc:
        main([f"a={tmp_path / 'mier'}", f"a={tmp_path / 'pearl'}", "--out", out])
    assert str(exc.value) == "error: variant name 'a' is given twice; name each once"
    with pytest.raises(SystemExit) as exc:
        main([f"a={tmp_path / 'mier'}", f"b={tmp_path / 'mier'}/", "--out", out])
    assert str(exc.value).startswith(f"error: variant directory {tmp_path / 'mier'} is given twice")
    assert not (tmp_path / "cmp.csv").exists()


def test_published_curves_are_drawn_and_tabled_on_a_benchmark_family(tmp_path, monkeypatch):
    """cheetah-vel runs (config.yaml names the family) to 500 000 env steps: the table gains
    one row per published method at those env steps (PEARL's log at 500 000: -44.632, min
    -51.836, max -41.782 over 5 seeds; MAML's at 320 000 and 640 000: -387.308 and -354.831,
    so -387.308 + (500 - 320) / 320 × 32.477 = -369.04), the test panel their curves labelled
    "(published logs)"; --no-published removes both."""
    steps = [250_000, 352_000, 500_000]
    for seed, test in (("s0", [-200, -120, -90]), ("s1", [-180, -110, -70])):
        write_run(tmp_path / "mier" / seed, [-1, -1, -1], test, steps=steps)
        (tmp_path / "mier" / seed / "config.yaml").write_text("data:\n  family: cheetah-vel\n")
    figures = []
    monkeypatch.setattr("mier_pl.analysis.compare.plt.close", figures.append)
    rows = main([f"mier={tmp_path / 'mier'}", "--out", str(tmp_path / "cmp")])
    by_name = {r["variant"]: r for r in rows}
    assert list(by_name) == [
        "mier",
        "PEARL (published logs)",
        "MAML (published logs)",
        "ProMP (published logs)",
        "RL² (published logs)",
    ]
    pearl = by_name["PEARL (published logs)"]
    assert pearl["seeds"] == "5" and pearl["env steps"] == "500,000"
    assert pearl["test return (no relabeling)"] == "-44.63 (-51.84 … -41.78)"
    assert by_name["MAML (published logs)"]["test return (no relabeling)"].startswith("-369.04 (")
    assert by_name["mier"]["test return (no relabeling)"] == "-80.00 ± 10.00"
    assert "| PEARL (published logs) | 5 | 500,000 |" in (tmp_path / "cmp.md").read_text()
    test_panel = figures[-1].axes[1]
    lines = {line.get_label(): line for line in test_panel.get_lines()}
    assert "mier (2 seeds)" in lines
    assert "PEARL (published logs), 5 seeds; dotted: final -33 at 2.2 M" in lines
    assert "MAML (published logs), 3 seeds; dotted: final -128 at 320 M" in lines
    pearl_line = lines["PEARL (published logs), 5 seeds; dotted: final -33 at 2.2 M"]
    assert max(pearl_line.get_xdata()) <= 500_000  # only the range of our runs
    assert pearl_line.get_ydata()[list(pearl_line.get_xdata()).index(252_000)] == -84.808
    legend = [t.get_text() for t in figures[-1].legends[0].get_texts()]
    assert sum("(published logs)" in t for t in legend) == 4

    rows = main([f"mier={tmp_path / 'mier'}", "--out", str(tmp_path / "x"), "--no-published"])
    assert [r["variant"] for r in rows] == ["mier"]
    assert [line.get_label() for line in figures[-1].axes[1].get_lines()] == ["mier (2 seeds)"]
    assert not figures[-1].legends
    assert "published" not in (tmp_path / "x.md").read_text()
    with pytest.raises(SystemExit, match="unknown --family 'cheetah'"):
        main([f"mier={tmp_path / 'mier'}", "--out", str(tmp_path / "y"), "--family", "cheetah"])
