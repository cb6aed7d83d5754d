"""The benchmark's figures run (speed itself is measured by `python -m mier_pl.bench`, not here)."""

from __future__ import annotations

import math

import torch

from mier_pl.bench.accelerations import bench_matmul_precision
from mier_pl.bench.data import bench_collection, bench_relabel
from mier_pl.bench.epochs import epoch_time
from mier_pl.bench.updates import bench_meta_update, bench_sac_update
from tests.conftest import CONF


def test_every_quick_figure_returns_a_finite_ratio():
    cpu = torch.device("cpu")
    rows = [
        bench_collection("walker-rand-params-ood", 0.05),
        bench_meta_update(0.05, cpu),
        bench_sac_update(0.05, cpu, n=256),
        bench_relabel(0.05, cpu),
    ]
    for row in rows:
        assert row["ours"] > 0 and row["limit"] > 0, row
        assert math.isclose(row["ratio"], row["ours"] / row["limit"]), row


def test_matmul_precision_rows_restore_the_setting():
    before = torch.get_float32_matmul_precision()
    rows = bench_matmul_precision(0.05, torch.device("cpu"), "medium")
    assert torch.get_float32_matmul_precision() == before
    assert len(rows) == 2
    for row in rows:
        assert row["ours"] > 0 and row["limit"] > 0, row
        assert row["matmul_rel_error"] < 1e-2  # bfloat16 rounding at worst, never garbage


def test_epoch_time_scales_a_short_real_epoch_to_the_config():
    """point_goal: 5 tasks × (60 + 60) env steps and 250 training steps per epoch."""
    row = epoch_time(CONF / "point_goal.yaml", 3, ["--torch_threads", "1"])
    assert (row["env_steps"], row["steps_per_epoch"]) == (600, 250)
    assert row["env_steps_per_s"] > 0 and row["updates_per_s"] > 0
    assert math.isclose(row["collect_s"], 600 / row["env_steps_per_s"])
    assert math.isclose(row["epoch_s"], row["collect_s"] + row["train_s"])
