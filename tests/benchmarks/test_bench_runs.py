"""The benchmark's figures run (speed itself is measured by `python -m benchmarks`, not here)."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import mujoco
import pytest
import torch

from benchmarks.accelerations import bench_cpu_acting, bench_matmul_precision
from benchmarks.common import short_fit_args
from benchmarks.data import bare_collection, bench_collection, bench_relabel
from benchmarks.epochs import epoch_time
from benchmarks.updates import bench_meta_update, bench_pearl_update, bench_sac_update
from mier_pl.envs import make_env
from tests.conftest import CONF

pytestmark = pytest.mark.e2e


def test_every_quick_figure_returns_a_finite_ratio(monkeypatch):
    import benchmarks.accelerations as accelerations
    import benchmarks.data as data

    built: list[torch.device] = []  # collection runs on the requested device
    collector = data.Collector
    for module in (data, accelerations):
        monkeypatch.setattr(
            module,
            "Collector",
            lambda *args, device="cpu", **kwargs: (
                built.append(torch.device(device)) or collector(*args, device=device, **kwargs)
            ),
        )
    cpu = torch.device("cpu")
    rows = [
        bench_collection("walker-rand-params-ood", 0.05, cpu),
        bench_meta_update(0.05, cpu),
        bench_sac_update(0.05, cpu, n=256),
        bench_pearl_update(0.05, cpu, tasks=2, context=10, n=16, hidden=(16,)),
        bench_relabel(0.05, cpu),
        bench_cpu_acting(0.05, cpu, steps=20),
    ]
    for row in rows:
        assert row["ours"] > 0 and row["limit"] > 0, row
        assert math.isclose(row["ratio"], row["ours"] / row["limit"]), row
    assert built == [cpu, cpu]  # collection and CPU acting


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


def test_cuda_timings_read_the_clock_only_after_a_synchronize(monkeypatch):
    """Every slice starts and ends with a synchronize before the clock is read, so it times
    its own kernels (recorded with stand-ins: a counting synchronize and a fake clock)."""
    import benchmarks.common as common

    events: list[str] = []
    now = [0.0]

    def clock() -> float:
        events.append("clock")
        now[0] += 0.01
        return now[0]

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    monkeypatch.setattr(common, "time", SimpleNamespace(perf_counter=clock))
    ra, rb = common.rates(
        [lambda: events.append("a"), lambda: events.append("b")],
        0.5,
        warmup=1,
        device=torch.device("cuda"),
    )
    assert ra > 0 and rb > 0
    timed = "".join(e[0] for e in events[2:])  # after the warm-up calls "a", "b"
    # 2 rounds × 2 functions; a slice: sync, clock, calls each with a clock read, sync, clock
    assert re.fullmatch(r"(sc(ac)+sc)(sc(bc)+sc)(sc(ac)+sc)(sc(bc)+sc)", timed), timed

    events.clear()
    assert common.elapsed(lambda: events.append("run"), "cuda") > 0
    assert events == ["sync", "clock", "run", "sync", "clock"]
    events.clear()
    common.rates([lambda: None], 0.25, warmup=0, device="cpu")
    assert "sync" not in events  # no CUDA call on a CPU run


def test_the_benchmarks_fits_use_one_device():
    args = short_fit_args("conf/cheetah_neg.yaml", 1, 5)
    assert args[args.index("--trainer.devices") + 1] == "1"  # auto would start DDP on N GPUs


def test_the_bare_collection_reference_pays_the_host_device_hand_off(monkeypatch):
    """One host→device and one device→host copy per lockstep step, as collection makes
    (recorded through stand-ins for Tensor.to and Tensor.cpu)."""
    copies: list[str] = []
    to, cpu = torch.Tensor.to, torch.Tensor.cpu
    monkeypatch.setattr(
        torch.Tensor, "to", lambda self, *a, **k: copies.append("to") or to(self, *a, **k)
    )
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self: copies.append("cpu") or cpu(self))
    env = make_env("walker-rand-params-ood")
    bare_collection(env, mujoco.MjData(env.model), 3, 5, "cpu")
    assert copies == ["to", "cpu"] * 3


def test_loop_figure_alternates_lightning_and_bare_epochs():
    """cheetah_neg + debug, 3 epochs of 4 steps: a bare epoch before each Lightning epoch
    (3 of each timed), and the figure is the ratio of the medians after the first."""
    from benchmarks.loop import bench_loop

    conf = str(CONF / "cheetah_neg.yaml")
    row = bench_loop("debug", conf, (str(CONF / "debug.yaml"),), 4, torch.device("cpu"), 3)
    assert row["ours"] > 0 and row["limit"] > 0
    assert math.isclose(row["ratio"], row["ours"] / row["limit"])


def test_cost_curve_pieces():
    from benchmarks.curves import linearity, replay_point, training_step

    training_step(tasks=2, A=8, width=16, device="cpu")()  # runs at any size
    point = replay_point(tasks=3, fill=1000, seconds=0.05, device="cpu")
    assert point["transitions"] == 3 * 1000  # half pre-adapt, half post, per task
    assert point["gib"] > 0 and point["draw_ms"] > 0
    fit = linearity([1, 2, 3, 4], [3.0, 5.0, 7.0, 9.0])  # y = 1 + 2x exactly
    assert fit["intercept"] == pytest.approx(1.0) and fit["slope"] == pytest.approx(2.0)
    assert fit["max_rel_dev"] == pytest.approx(0.0, abs=1e-9)
