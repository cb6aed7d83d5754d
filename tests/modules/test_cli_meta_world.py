"""End to end on Meta-World: a debug ``fit`` and ``adapt`` through the CLI log success rates.

Skipped, with the reason, where the optional metaworld package is absent (docs/metaworld.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONF, METAWORLD_SKIP, fit_debug, metric_series, read_metrics

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
    )
    results = json.loads(
        next(tmp_path.glob(f"lightning_logs/{family}/adapt_*/results.json")).read_text()
    )
    summary = results["summary"]
    assert summary["tasks"] == 2
    assert summary["mier_wr_success_rate"] in (0.0, 0.5, 1.0)
    assert {"mier_success_rate", "mier_success_rate_epoch_1", "mier_success_rate_epoch_2"} <= set(
        summary
    )
    for task in results["tasks"]:
        assert task["mier_wr_success"] in (0.0, 1.0)
        assert len(task["mier_success"]) == len(task["mier"]) == 2
