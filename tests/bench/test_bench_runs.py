"""The benchmark's figures run (speed itself is measured by `python -m mier_pl.bench`, not here)."""

from __future__ import annotations

import math

import torch

from mier_pl.bench.data import bench_collection, bench_relabel
from mier_pl.bench.updates import bench_meta_update, bench_sac_update


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
