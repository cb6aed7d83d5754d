"""``python -m mier_pl report`` aggregates runs into mean ± std."""

from __future__ import annotations

import csv

import pytest
import yaml

from mier_pl.analysis.report import main


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


def test_adapt_runs_of_several_methods_are_set_side_by_side(tmp_path):
    import csv as _csv

    from mier_pl.analysis.report import main as report_main
    from mier_pl.analysis.results import AdaptResults, TaskResult, write_results

    def run(name, method, rows):
        tasks = [TaskResult(i, f"goal={i}", wr, curve) for i, (wr, curve) in enumerate(rows)]
        write_results(AdaptResults("point-goal", "x.ckpt", {}, tasks, method), tmp_path / name)
        return str(tmp_path / name)

    dirs = [
        run("mier_s0", "mier", [(-10.0, [-9.0, -8.0]), (-12.0, [-11.0, -6.0])]),
        run("mier_s1", "mier", [(-14.0, [-9.0, -10.0]), (-12.0, [-11.0, -8.0])]),
        run("pearl_s0", "pearl", [(-20.0, []), (-30.0, [])]),
        run("pearl_relabel_s0", "pearl_relabel", [(-22.0, [-18.0]), (-28.0, [-25.0])]),
    ]
    report_main(["--adapt", *dirs, "--out", str(tmp_path / "out")])
    rows = list(_csv.DictReader((tmp_path / "out" / "methods.csv").read_text().splitlines()))
    got = {(r["method"], int(r["task"])): (float(r["mean"]), int(r["runs"])) for r in rows}
    assert got[("MIER-wR", 0)] == (-12.0, 2)
    assert got[("MIER", 0)] == (-9.0, 2)  # the final epochs -8 and -10
    assert got[("MIER", 1)] == (-7.0, 2)
    assert got[("PEARL", 0)] == (-21.0, 2)  # method pearl and pearl_relabel's PEARL return
    assert got[("PEARL + relabeling", 1)] == (-25.0, 1)
    assert (tmp_path / "out" / "methods.png").is_file()


def test_report_needs_fit_runs_or_adapt_runs(tmp_path):
    from mier_pl.analysis.report import main as report_main

    with pytest.raises(SystemExit, match="--adapt"):
        report_main([])


def test_a_run_given_twice_is_refused_not_counted_twice(tmp_path, monkeypatch):
    _run(tmp_path / "version_0", [-30, -20])
    _run(tmp_path / "version_1", [-28, -10])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:  # was "2 runs, std 0.00"
        main(["version_0", "version_1", "./version_0/"])
    assert str(exc.value) == (
        "error: run version_0 is given twice; each run counts once, so pass it once"
    )
    with pytest.raises(SystemExit) as exc:
        main(["--adapt", "version_1", str(tmp_path / "version_1")])
    assert str(exc.value).startswith(
        f"error: run {tmp_path / 'version_1'} is given twice (as version_1); "
    )
