"""Identification diagnostics (``diag/...``) at every evaluation, for MIER and PEARL, and the
same numbers offline from a checkpoint (``python -m mier_pl evaluate RUN --probe``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mier_pl.analysis.evaluate import main as evaluate_main
from mier_pl.data.rollout import Collector
from mier_pl.envs.meta_env import MetaEnv
from mier_pl.functional.probe import Identification
from mier_pl.modules import diagnostics
from mier_pl.modules.base import MetaTrainingModule
from mier_pl.modules.context_sac import SACConfig
from mier_pl.modules.meta_model import DynamicsConfig
from mier_pl.modules.mier import MIERModule
from tests.conftest import CONF, fit_debug, metric_series, read_metrics

PROBE = ("diag/probe_r2_train", "diag/probe_r2_test")
SIZES = tuple(
    f"diag/{s}_context_{k}" for s in ("train", "test") for k in ("norm", "norm_max", "spread")
)
NOISE = ("diag/train_context_noise", "diag/test_context_noise")  # PEARL's posterior sigma
MODEL = tuple(
    f"diag/{s}_{part}_mse{p}"
    for s in ("train", "test")
    for part in ("reward", "state")
    for p in ("", "_prior")
)


def _rows(cli) -> list[dict[str, str]]:
    return read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")


def _spy_identify(monkeypatch) -> list[tuple[str, int, int]]:
    """Record (class, tasks, A) of every identify_tasks call."""
    calls = []
    for cls in {MetaTrainingModule, *MetaTrainingModule.__subclasses__()}:
        if "identify_tasks" not in vars(cls):
            continue
        original = vars(cls)["identify_tasks"]

        def spy(self, collector, tasks, adapt_steps, _original=original):
            calls.append((type(self).__name__, len(tasks), adapt_steps))
            return _original(self, collector, tasks, adapt_steps)

        monkeypatch.setattr(cls, "identify_tasks", spy)
    return calls


def test_mier_debug_fit_logs_finite_diagnostics_on_all_train_tasks(run_cli, monkeypatch):
    calls = _spy_identify(monkeypatch)
    cli = fit_debug(run_cli, "point_goal.yaml", epochs=2)
    rows = _rows(cli)
    for key in PROBE + SIZES + MODEL:
        values = metric_series(rows, key)
        assert len(values) == 2 and all(math.isfinite(v) for v in values), (key, values)
    assert not any(metric_series(rows, k) for k in NOISE)  # φ_T is used as it is: no noise
    # Two evaluations, each: all 40 train tasks (probe_tasks default), all 10 test tasks,
    # with point-goal's A = 300, although the debug evaluation plays 2 + 2 episodes.
    assert calls == [("MIERModule", 40, 300), ("MIERModule", 10, 300)] * 2
    assert all(v >= 0 for k in MODEL + SIZES for v in metric_series(rows, k))
    assert all(v <= 1 for k in PROBE for v in metric_series(rows, k))
    # Separate models (point-goal is reward-only): the state model ignores φ.
    assert metric_series(rows, "diag/test_state_mse") == metric_series(
        rows, "diag/test_state_mse_prior"
    )


def test_the_probe_leaves_the_run_unchanged_and_can_be_switched_off(run_cli):
    on = fit_debug(run_cli, "point_goal.yaml", epochs=2)
    off = fit_debug(run_cli, "point_goal.yaml", "--model.init_args.eval.probe_tasks", "0", epochs=2)
    rows_on, rows_off = _rows(on), _rows(off)
    # Its own envs, its own seeded generators: training and evaluation draw exactly as before.
    for key in ("model/outer_loss", "sac/critic_loss", "eval/test_return_mier_wr"):
        assert metric_series(rows_on, key) == metric_series(rows_off, key), key
    assert on.datamodule.collector.env_steps == off.datamodule.collector.env_steps  # uncounted
    assert not any(k.startswith("diag/") for k in rows_off[0])  # 0: no diagnostics at all


def test_pearl_debug_fit_probes_z_and_logs_no_model_errors(run_cli, monkeypatch):
    calls = _spy_identify(monkeypatch)
    cli = fit_debug(run_cli, "point_goal.yaml", "--config", str(CONF / "pearl.yaml"))
    rows = _rows(cli)
    for key in PROBE + SIZES:
        values = metric_series(rows, key)
        assert len(values) == 1 and math.isfinite(values[0]), (key, values)
    assert not any(metric_series(rows, k) for k in MODEL)  # PEARL has no model
    assert calls == [("PEARLModule", 40, 300), ("PEARLModule", 10, 300)]
    # z's sample noise beside the spread of its mean: positive, finite, once per evaluation.
    for key in NOISE:
        (value,) = metric_series(rows, key)
        assert 0 < value < math.inf, (key, value)


def test_pearl_noise_is_the_posterior_sigma_and_survives_the_chunks(monkeypatch):
    """The logged noise is the mean of sqrt(posterior variance) over tasks and dims, whatever
    the chunking: a stub posterior with variance 0.25 on every train task, 0.09 on test tasks."""
    collector = Collector("point-goal", None, 0)

    class Stub:
        def identify_tasks(self, collector, tasks, adapt_steps):
            var = 0.25 if any(tasks[0] is t for t in collector.train_tasks) else 0.09
            return Identification(
                torch.arange(len(tasks) * 2.0).view(-1, 2),
                noise=torch.full((len(tasks), 2), var).sqrt(),
            )

    monkeypatch.setattr(diagnostics, "PROBE_CHUNK", 16)
    out = diagnostics.identification_metrics(Stub(), collector, 30, None)
    assert out["diag/train_context_noise"] == pytest.approx(0.5)
    assert out["diag/test_context_noise"] == pytest.approx(0.3)


@pytest.mark.parametrize("overlay", [None, "pearl.yaml"], ids=["mier", "pearl"])
def test_offline_probe_of_the_checkpoint_reads_what_training_logged(run_cli, tmp_path, overlay):
    extra = ("--config", str(CONF / overlay)) if overlay else ()
    cli = fit_debug(run_cli, "point_goal.yaml", *extra)
    run = Path(cli.trainer.log_dir)
    rows = _rows(cli)
    (result,) = evaluate_main([str(run), "--probe", "--out", str(tmp_path / "probe")])
    saved = json.loads((tmp_path / "probe" / "probe_epoch1.json").read_text())
    assert saved == result and saved["epoch"] == 1 and saved["probe_tasks"] is None
    logged = {k: metric_series(rows, k)[-1] for k in saved["diag"]}
    assert set(saved["diag"]) >= set(PROBE + SIZES)
    # The same weights, tasks, A and seeded draws: the values training logged (float32 there).
    for key, value in saved["diag"].items():
        assert value == pytest.approx(logged[key], rel=1e-5, abs=1e-6), key
    # Fewer probe tasks: a different fit, still scored.
    (few,) = evaluate_main([str(run), "--probe", "--probe_tasks", "8", "--out", str(tmp_path)])
    assert few["probe_tasks"] == 8 and math.isfinite(few["diag"]["diag/probe_r2_train"])


def test_tasks_go_in_chunks_and_a_family_without_encoding_gets_no_probe(monkeypatch):
    collector = Collector("point-goal", None, 0)
    module = MIERModule(
        2,
        2,
        True,
        DynamicsConfig(hidden=16, layers=1),
        SACConfig(hidden=(16,)),
        task_encoding_dim=2,
    )
    calls = _spy_identify(monkeypatch)
    monkeypatch.setattr(diagnostics, "PROBE_CHUNK", 16)
    out = diagnostics.identification_metrics(module, collector, 30, None)
    # 40 train tasks in chunks of 16, then the 10 test tasks; A = 30 each.
    assert [n for _, n, _ in calls] == [16, 16, 8, 10] and {a for *_, a in calls} == {30}
    assert set(out) == set(PROBE + SIZES + MODEL)
    assert all(math.isfinite(v) for v in out.values())
    assert collector.env_steps == 0  # the caller's collector is never stepped
    monkeypatch.setattr(MetaEnv, "task_encoding_dim", property(lambda self: 0))
    assert set(diagnostics.identification_metrics(module, collector, 30, 5)) == set(SIZES + MODEL)
