"""End to end on Meta-World: a debug ``fit`` and ``adapt`` through the CLI log success rates.

Skipped, with the reason, where the optional metaworld package is absent (docs/metaworld.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONF, HAVE_GL, METAWORLD_SKIP, fit_debug, metric_series, read_metrics

pytest.importorskip("metaworld", reason=METAWORLD_SKIP)

CONFIGS = {"ml1-reach": "ml1_reach.yaml", "ml10": "ml10.yaml"}


@pytest.mark.parametrize("family", list(CONFIGS))
def test_debug_fit_and_adapt_report_success(run_cli, family, tmp_path):
    config = CONFIGS[family]
    cli = fit_debug(run_cli, config, "--data.horizon", "100")
    dm = cli.datamodule
    assert dm.family == family and dm.horizon == 100 and dm.collector.horizon == 100
    log_dir = Path(cli.trainer.log_dir)
    rows = read_metrics(log_dir / "metrics.csv")
    for key in ("eval/train_success", "eval/test_success_mier_wr"):
        values = metric_series(rows, key)
        # debug eval: 2 tasks per split, so a rate is 0, 0.5 or 1
        assert values and all(v in (0.0, 0.5, 1.0) for v in values), key
    assert metric_series(rows, "eval/train_return")

    ckpt = log_dir / "checkpoints" / "last.ckpt"
    # ml1-reach films its adapt episodes where GL renders (the Meta-World camera:
    # tests/data/test_video.py); ml10 does not, which saves the suite 17 s of software rendering.
    film = family == "ml1-reach"
    run_cli(
        "adapt",
        "--config",
        CONF / config,
        "--config",
        CONF / "debug.yaml",
        "--data.horizon",
        "100",
        "--trainer.enable_progress_bar",
        "false",
        "--ckpt_path",
        ckpt,
        "--tasks",
        "0,1",
        *(() if film else ("--videos", "false")),
    )
    (adapt_dir,) = tmp_path.glob(f"lightning_logs/{family}/adapt_*")
    results = json.loads((adapt_dir / "results.json").read_text())
    filmed = sorted(
        p.relative_to(adapt_dir).with_suffix("").as_posix()
        for p in adapt_dir.glob("task_*/mier*.*")
    )
    if film and HAVE_GL:
        assert filmed == [f"task_{i:02d}/{name}" for i in (0, 1) for name in ("mier", "mier_wr")]
    elif not film:
        assert filmed == []
    summary = results["summary"]
    assert summary["tasks"] == 2
    assert summary["mier_wr_success_rate"] in (0.0, 0.5, 1.0)
    assert {"mier_success_rate", "mier_success_rate_epoch_1", "mier_success_rate_epoch_2"} <= set(
        summary
    )
    for task in results["tasks"]:
        assert task["mier_wr_success"] in (0.0, 1.0)
        assert len(task["mier_success"]) == len(task["mier"]) == 2
