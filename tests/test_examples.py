"""examples/: a family of the user's own (hopper-vel), named by its import path, checked and
trained end to end with debug-sized budgets; nothing in mier_pl knows it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mier_pl.analysis import evaluate
from mier_pl.data import video
from mier_pl.envs import family_class
from mier_pl.envs.check import check_family
from tests.conftest import CONF, HAVE_GL, ROOT

FAMILY = "examples.hopper_vel:HopperVelEnv"
CONFIG = ROOT / "examples" / "hopper_vel.yaml"
# Debug budgets (conf/debug.yaml) on 50-step episodes.
SMALL = ("--config", CONF / "debug.yaml", "--trainer.enable_progress_bar", "false")
SMALL += ("--data.horizon", "50")


def test_the_example_keeps_the_family_contract():
    assert check_family(FAMILY) == []
    cls = family_class(FAMILY)
    assert (cls.family, cls.reward_only, cls.max_episode_steps) == ("hopper-vel", True, 200)


def test_the_example_fits_and_adapts_end_to_end(run_cli, tmp_path):
    cli = run_cli("fit", "--config", CONFIG, *SMALL, "--trainer.max_epochs", "1")
    run = tmp_path / cli.trainer.log_dir
    assert run == tmp_path / "lightning_logs" / FAMILY / "version_0"
    ckpt = run / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=False, map_location="cpu")["mier"]
    assert saved == {"family": FAMILY, "obs_dim": 11, "act_dim": 3}
    assert f"family: {FAMILY}" in (run / "config.yaml").read_text()
    # The offline evaluation rebuilds the family from the run's config.yaml.
    (summary,) = evaluate.main([str(run), "--repeats", "1"])
    assert summary["repeats"] == 1 and len(summary["test"]["per_task"]) == 10
    assert math.isfinite(summary["test"]["mean"]) and (run / "final_eval.json").is_file()

    cli = run_cli("adapt", "--config", CONFIG, *SMALL, "--ckpt_path", ckpt, "--tasks", "0")
    results = json.loads((tmp_path / cli.trainer.log_dir / "results.json").read_text())
    (task,) = results["tasks"]
    assert task["task"] == 0 and len(task["mier"]) == 2  # debug: 2 relabeling epochs
    assert task["description"].startswith("velocity=1.")  # an OOD target in [1.5, 2]
    if HAVE_GL:  # its MIER-wR and MIER episodes, filmed
        ext = "mp4" if video.mp4_available() else "gif"
        videos = sorted(
            p.name for p in Path(tmp_path, cli.trainer.log_dir, "task_00").glob("mier*")
        )
        assert videos == [f"mier.{ext}", f"mier_wr.{ext}"]


@pytest.mark.parametrize(
    "extra",
    [("--model.init_args.context_source", "oracle"), ("--config", CONF / "pearl.yaml")],
    ids=["oracle", "pearl"],
)
def test_the_oracle_and_pearl_take_a_family_by_path(run_cli, tmp_path, extra):
    cli = run_cli(
        "fit",
        "--config",
        CONF / "point_goal.yaml",
        *SMALL[:4],
        *extra,
        "--data.family",
        "tests.envs.broken_families:GoodPoint",
        "--trainer.max_epochs",
        "1",
    )
    assert cli.trainer.current_epoch == 1
