"""The benchmark's collection figure on a Meta-World family (skipped without metaworld)."""

from __future__ import annotations

import math

import pytest

from tests.conftest import METAWORLD_SKIP

pytest.importorskip("metaworld", reason=METAWORLD_SKIP)


def test_the_collection_benchmark_measures_a_meta_world_family():
    from benchmarks.data import bench_collection

    row = bench_collection("ml1-reach", 0.05, "cpu")
    assert row["figure"] == "collection ml1-reach" and row["unit"] == "env steps/s"
    assert math.isfinite(row["ratio"]) and 0 < row["ratio"] < 2
