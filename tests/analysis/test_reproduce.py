"""``python -m mier_pl reproduce``: commands, resumption, refusal of changed settings, the
report's numbers, and the env-step budget its budgets rest on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mier_pl.analysis.reproduce as reproduce
from tests.conftest import CONF, ROOT, fit_debug, metric_series, read_metrics

DEBUG = ["--config", str(CONF / "point_rotated.yaml"), "--overlay", str(CONF / "debug.yaml")]


def test_print_commands_lists_every_fit_and_test_step_and_a_slurm_array(capsys, tmp_path):
    args = [*DEBUG, "--seeds", "0,1", "--methods", "mier,oracle", "--budget", "cpu"]
    assert reproduce.main([*args, "--root", str(tmp_path), "--print-commands"]) is None
    out = capsys.readouterr().out
    fits = [line for line in out.splitlines() if " -m mier_pl fit " in line and ")" not in line]
    assert len(fits) == 4  # 2 methods × 2 seeds
    assert all(str(CONF / "budget" / "cpu.yaml") in line for line in fits)
    assert sum("context_source oracle" in line for line in fits) == 2
    assert out.count(" -m mier_pl adapt ") == 2 * 2  # the list and the array script, MIER only
    assert out.count(" -m mier_pl evaluate ") == 2 * 2
    assert "#SBATCH --array=0-3" in out
    assert not tmp_path.joinpath("point_rotated").exists()  # nothing ran


def test_budget_overlay_prefers_a_familys_own_schedule():
    assert reproduce.budget_overlay(CONF / "ant_neg.yaml", "paper").name == "paper_ant_neg.yaml"
    assert reproduce.budget_overlay(CONF / "cheetah_vel_hard.yaml", "paper").name == "paper.yaml"
    assert reproduce.budget_overlay(CONF / "point_goal.yaml", "config") is None


def test_bad_input_is_named(tmp_path):
    with pytest.raises(SystemExit, match="unknown method"):
        reproduce.main([*DEBUG, "--methods", "mier,maml", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="does not exist"):
        reproduce.main(["--config", "conf/nope.yaml", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="integers"):
        reproduce.main([*DEBUG, "--seeds", "a,b", "--root", str(tmp_path)])


def test_a_run_made_with_other_settings_is_refused(tmp_path):
    args = reproduce.build_parser().parse_args([*DEBUG, "--seeds", "0", "--root", str(tmp_path)])
    args.seeds, args.methods = [0], ["mier"]
    _, (job,) = reproduce.plan(args, [])
    job.run.mkdir(parents=True)
    other = dict(job.record, fit=[*job.fit, "--trainer.max_epochs", "7"])
    (job.run / "reproduce.json").write_text(json.dumps({"commands": other, "seconds": {}}))
    with pytest.raises(SystemExit, match=r"different fit command.*max_epochs"):
        reproduce.check_record(job)


def test_a_run_made_with_an_edited_config_file_is_refused(tmp_path):
    """The same command, but the config file's contents changed since the run was made."""
    config = tmp_path / "family.yaml"
    config.write_text((CONF / "point_rotated.yaml").read_text())
    args = reproduce.build_parser().parse_args(["--config", str(config), "--root", str(tmp_path)])
    args.seeds, args.methods = [0], ["mier"]
    _, (job,) = reproduce.plan(args, [])
    job.run.mkdir(parents=True)
    record = {"commands": job.record, "config_sha256": job.config_digests(), "seconds": {}}
    (job.run / "reproduce.json").write_text(json.dumps(record))
    reproduce.check_record(job)  # unchanged: accepted
    config.write_text(config.read_text() + "\n# edited\ntrainer:\n  max_epochs: 3\n")
    with pytest.raises(SystemExit, match=r"other contents of .*family\.yaml"):
        reproduce.check_record(job)


@pytest.mark.e2e
def test_debug_comparison_end_to_end_then_reused(tmp_path, monkeypatch):
    """point-rotated at debug size, one seed, MIER and the oracle, adapt on test tasks 0 and 1:
    the report's numbers are those in the runs' own result files; a second call runs nothing."""
    args = [*DEBUG, "--seeds", "0", "--methods", "mier,oracle", "--tasks", "0,1", "--jobs", "2"]
    payload = reproduce.main([*args, "--root", str(tmp_path)])
    root = tmp_path / "point_rotated" / "config"
    adapt = json.loads((root / "mier" / "s0" / "adapt" / "results.json").read_text())
    oracle = json.loads((root / "oracle" / "s0" / "final_eval.json").read_text())
    table = payload["methods"]
    assert set(table) == {"mier", "mier_wr", "oracle"}
    assert payload["meta"]["test_tasks"] == [0, 1]
    wr = [t["mier_wr"] for t in sorted(adapt["tasks"], key=lambda t: t["task"])]
    assert table["mier_wr"]["per_task_mean"] == pytest.approx(wr)
    assert table["mier"]["mean"] == pytest.approx(np.mean([t["mier"][-1] for t in adapt["tasks"]]))
    assert table["oracle"]["per_task_mean"] == pytest.approx(oracle["test"]["per_task"][:2])
    assert payload["meta"]["task_axis"] == "rotation angle (°)"
    for name in ("report.md", "report.csv", "report.json", "figure4.png", "figure5.png"):
        assert (root / "report" / name).is_file(), name
    assert (root / "report" / "curves.png").is_file()

    def no_runs(command, out):
        raise AssertionError(f"reran {command}")

    monkeypatch.setattr(reproduce, "_call", no_runs)
    again = reproduce.main([*args, "--root", str(tmp_path)])
    assert again["methods"] == table


def test_env_step_budget_stops_after_the_epoch_that_reaches_it_and_evaluates(run_cli):
    """Debug point-rotated: 20 tasks × 20 exploration steps = 400, then 2 × 40 per epoch; a
    budget of 500 is reached after epoch 1 (560 steps), of at most 5; evaluation there only."""
    cli = fit_debug(
        run_cli,
        "point_rotated.yaml",
        "--model.init_args.collect.max_env_steps",
        "500",
        "--model.init_args.eval.interval",
        "10",
        epochs=5,
    )
    assert cli.trainer.current_epoch == 2  # epochs 0 and 1 ran
    assert cli.datamodule.collector.env_steps == 560
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    evals = [int(r["epoch"]) for r in rows if r.get("eval/train_return")]
    assert evals == [1] and len(metric_series(rows, "eval/test_return_mier_wr")) == 1


def test_config_given_twice_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as exc:  # argparse kept the last: a run without its family
        reproduce.main(
            ["--config", str(CONF / "point_rotated.yaml"), "--config", str(CONF / "debug.yaml")]
        )
    assert str(exc.value) == (
        f"error: --config is given twice ({CONF / 'point_rotated.yaml'}, {CONF / 'debug.yaml'}); "
        "give the family config once and each overlay with --overlay, e.g. --config "
        f"{CONF / 'point_rotated.yaml'} --overlay {CONF / 'debug.yaml'}"
    )


def test_seeds_and_methods_given_twice_run_once(capsys, tmp_path):
    args = [*DEBUG, "--seeds", "0,0,1", "--methods", "mier,mier", "--root", str(tmp_path)]
    reproduce.main([*args, "--print-commands"])
    fits = [ln for ln in capsys.readouterr().out.splitlines() if " fit " in ln and "#" not in ln]
    assert len(fits) == 4  # two seeds of one method, in the list and in the SLURM array
    assert sum("--trainer.logger.init_args.version s0" in ln for ln in fits) == 2


def test_a_second_reproduce_on_the_same_runs_is_refused_before_any_fit(tmp_path):
    """Two real processes: the first holds its runs' locks, the second is refused naming it."""
    args = [*DEBUG, "--seeds", "0", "--methods", "mier", "--root", str(tmp_path)]
    args = reproduce.build_parser().parse_args(args)
    args.seeds, args.methods = [0], ["mier"]
    _, (job,) = reproduce.plan(args, [])
    code = (
        "import sys, time; from mier_pl import runlock; "
        "runlock.hold(sys.argv[1], 'x', name='.reproduce.lock'); print('held', flush=True); "
        "time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(job.run)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as exc:
            reproduce.main([*DEBUG, "--seeds", "0", "--methods", "mier", "--root", str(tmp_path)])
        assert str(exc.value).startswith(
            f"error: {job.run.resolve()} is being written by process {holder.pid} "
        )
        assert str(exc.value).endswith(
            "; wait for that reproduce to finish or stop it, or use another --root"
        )
    finally:
        holder.kill()
        holder.wait()
    assert not (job.run / "checkpoints").exists()  # no fit started


def test_a_sigtermed_fit_is_not_marked_done_and_the_rerun_continues_it(tmp_path, monkeypatch):
    """The fit child stopped by SIGTERM exited 0, so reproduce marked it done, adapted the
    partial checkpoint and reported it; a rerun never continued the fit."""
    procs: list[subprocess.Popen] = []

    def run_and_keep(command, **kwargs):  # reproduce's own call, with the child kept to signal
        proc = subprocess.Popen(command, **kwargs)
        procs.append(proc)
        proc.wait()
        return subprocess.CompletedProcess(command, proc.returncode)

    monkeypatch.setattr(reproduce.subprocess, "run", run_and_keep)
    args = reproduce.build_parser().parse_args([*DEBUG, "--tasks", "0", "--root", str(tmp_path)])
    args.seeds, args.methods = [0], ["mier"]
    _, (job,) = reproduce.plan(args, ["--trainer.max_epochs", "1000"])
    failures: list[BaseException] = []

    def run() -> None:
        try:
            reproduce.run_job(job, tmp_path / "log")
        except BaseException as err:  # the thread hands back what stopped it
            failures.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    ckpt = job.run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    procs[0].send_signal(signal.SIGTERM)
    thread.join(120)
    (failure,) = failures
    assert "failed (exit 143)" in str(failure)
    assert not (job.run / "fit.done").exists() and len(procs) == 1  # no adapt of a partial fit
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    steps = saved["ReplayDataModule"]["collector"]["env_steps"]

    _, (again,) = reproduce.plan(args, ["--trainer.max_epochs", str(saved["epoch"] + 2)])
    reproduce.run_job(again, tmp_path / "log")
    assert (job.run / "fit.done").is_file()
    resumed = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert resumed["ReplayDataModule"]["collector"]["env_steps"] == steps + 2 * 40  # continued


def _fit_run(job, family: str, curves: dict[str, list[float]], steps: list[int]) -> None:
    """A finished fit run as reproduce leaves it: metrics.csv with evaluation rows, its config,
    its record (1 min of fit)."""
    import csv

    run = job.run
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  family: {family}\n")
    record = {"commands": job.record, "config_sha256": job.config_digests()}
    (run / "reproduce.json").write_text(json.dumps(record | {"seconds": {"fit": 60.0}}))
    (run / "fit.done").touch()
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "step", "progress/env_steps", *curves])
        w.writeheader()
        for e, s in enumerate(steps):
            w.writerow({"epoch": e, "step": 10 * e, "progress/env_steps": s} | {k: v[e] for k, v in curves.items()})  # fmt: skip


def test_an_in_distribution_family_gets_figure2_with_the_published_curves(tmp_path, monkeypatch):
    """cheetah-vel (in distribution): fit runs only, no test step; the report is Figure 2 from
    the runs' evaluations (MIER-wR for MIER), with PEARL's published logs beside them
    (at 500 000 env steps: -44.632, min -51.836, max -41.782 over 5 seeds); --no-published
    leaves them out."""
    import csv

    import mier_pl.analysis.figure2 as figure2

    base = ["--config", str(CONF / "cheetah_vel.yaml"), "--root", str(tmp_path)]
    args = reproduce.build_parser().parse_args([*base, "--seeds", "0,1"])
    args.seeds, args.methods = [0, 1], ["mier", "pearl", "oracle"]
    root, jobs = reproduce.plan(args, [])
    assert all(job.test == [] for job in jobs)  # no adapt, no evaluate
    steps = [250_000, 352_000, 500_000]
    tests = {
        ("mier", 0): [-200, -120, -90],
        ("mier", 1): [-180, -110, -70],
        ("pearl", 0): [-150, -60, -50],
        ("pearl", 1): [-150, -60, -40],
        ("oracle", 0): [-100, -50, -30],
        ("oracle", 1): [-100, -50, -30],
    }
    key = {"mier": "mier_wr", "pearl": "pearl", "oracle": "oracle"}
    for job in jobs:
        _fit_run(
            job,
            "cheetah-vel",
            {
                "eval/train_return": [-1, -1, -1],
                f"eval/test_return_{key[job.method.name]}": tests[job.method.name, job.seed],
            },
            steps,
        )
    figures = []
    monkeypatch.setattr(figure2.plt, "close", figures.append)
    monkeypatch.setattr(reproduce, "_call", lambda c, o: pytest.fail(f"ran {c}"))
    payload = reproduce.main([*base, "--seeds", "0,1", "--methods", "mier,pearl,oracle"])
    report = root / "report"
    assert (report / "figure2.png").is_file() and not (report / "figure4.png").exists()
    table = payload["methods"]
    assert table["mier_wr"]["mean"] == pytest.approx(-80.0) and table["mier_wr"]["std"] == 10.0
    assert table["pearl"]["mean"] == pytest.approx(-45.0) and table["oracle"]["mean"] == -30.0
    pearl = payload["published"]["PEARL"]
    assert (pearl["env_steps"], pearl["mean"], pearl["min"], pearl["max"]) == pytest.approx(
        (500_000, -44.632, -51.836, -41.782)
    )
    rows = list(csv.DictReader((report / "report.csv").open(encoding="utf-8")))
    ours = [r for r in rows if r["method"] == "MIER-wR"]
    assert [(float(r["env_steps"]), float(r["mean"])) for r in ours] == [
        (250_000, -190.0),
        (352_000, -115.0),
        (500_000, -80.0),
    ]
    pearl_rows = {float(r["env_steps"]): r for r in rows if r["method"] == "PEARL (published logs)"}
    assert float(pearl_rows[252_000]["mean"]) == -84.808 and max(pearl_rows) <= 500_000
    assert (
        "| PEARL (published logs) | 500,000 | -44.63 (min -51.84, max -41.78)"
        in (report / "report.md").read_text()
    )
    labels = [line.get_label() for line in figures[-1].axes[0].get_lines()]
    assert labels[:3] == ["MIER-wR (2 seeds)", "PEARL (2 seeds)", "oracle context (2 seeds)"]
    assert sum("(published logs)" in label for label in labels) == 4

    payload = reproduce.main([*base, "--seeds", "0,1", "--methods", "mier,pearl,oracle", "--no-published"])  # fmt: skip
    assert payload["published"] == {}
    assert not any(
        "published" in r["method"] for r in csv.DictReader((report / "report.csv").open())
    )
    assert [line.get_label() for line in figures[-1].axes[0].get_lines()] == labels[:3]


def test_figure2_of_a_family_with_train_tasks_only_shows_them(tmp_path, monkeypatch):
    """cheetah-dir has its 2 directions and no test split (as PEARL's logs): the train-task
    evaluation is the figure, said so in the report."""
    base = ["--config", str(CONF / "cheetah_dir.yaml"), "--root", str(tmp_path), "--seeds", "0"]
    args = reproduce.build_parser().parse_args(base)
    args.seeds, args.methods = [0], ["mier"]
    root, (job,) = reproduce.plan(args, [])
    _fit_run(job, "cheetah-dir", {"eval/train_return": [100.0, 900.0]}, [300_000, 600_000])
    monkeypatch.setattr(reproduce, "_call", lambda c, o: pytest.fail(f"ran {c}"))
    payload = reproduce.main([*base, "--methods", "mier"])
    assert payload["meta"]["split"] == "train" and payload["methods"]["mier_wr"]["mean"] == 900.0
    assert "train (the family's only tasks)" in (root / "report" / "report.md").read_text()
    assert payload["published"]["PEARL"]["mean"] is not None
