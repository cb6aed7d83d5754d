"""``python -m mier_pl.report`` aggregates runs into mean ± std."""

from __future__ import annotations

import csv

import pytest
import yaml

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
    with pytest.raises(SystemExit, match=r"^error: .*metrics\.csv does not exist"):
        main([str(tmp_path / "nope"), "--out", str(tmp_path / "r")])


def _config(run, **overrides):
    config = {
        "seed_everything": 0,
        "trainer": {"max_epochs": 2, "logger": {"init_args": {"version": run.name}}},
        "data": {"family": "point-goal", "batch_size": 200},
    }
    for key, value in overrides.items():
        section, name = key.split("__")
        config[section][name] = value
    (run / "config.yaml").write_text(yaml.safe_dump(config))


def test_report_refuses_runs_of_different_configs_unless_asked(tmp_path, capsys):
    runs = [tmp_path / "point-goal" / f"version_{i}" for i in range(3)]
    for i, run in enumerate(runs):
        _run(run, [-30 + i, -20])
        _config(run)
    _config(runs[2], data__family="cheetah-vel", data__batch_size=16)
    args = [*map(str, runs), "--metrics", "eval/train_return"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    msg = str(exc.value)
    assert msg.startswith("error: the runs are not seeds of one config")
    assert "data.batch_size: 200, 200, 16" in msg and "data.family" in msg
    assert "seed_everything" not in msg and "logger" not in msg
    assert not (tmp_path / "point-goal" / "report").exists()  # nothing written
    main([*args, "--allow_mixed"])
    # written beside the runs, not to ./lightning_logs/report
    assert (tmp_path / "point-goal" / "report" / "report.csv").is_file()


def test_report_errors_are_one_line(tmp_path):
    _run(tmp_path / "version_0", [-1.0])
    with pytest.raises(SystemExit, match=r"^error: metric 'eval/nope' is not logged"):
        main([str(tmp_path / "version_0"), "--metrics", "eval/nope"])
