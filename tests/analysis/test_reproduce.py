"""``python -m mier_pl reproduce``: commands, resumption, refusal of changed settings, the
report's numbers, and the env-step budget its budgets rest on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mier_pl.analysis.reproduce as reproduce
from tests.conftest import CONF, fit_debug, metric_series, read_metrics

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
