"""Training-step scalars reach the loggers on Lightning's logging steps, exactly as
``self.log_dict`` would put them there, without its per-value bookkeeping on every step."""

from __future__ import annotations

from pathlib import Path

import pytest

import mier_pl.modules.meta_model as meta_model
import mier_pl.modules.mier as mier
from tests.conftest import CONF, fit_debug, read_metrics

KEY = "model/outer_loss"  # logged by both modules
STEP_KEYS = ("sac/critic_loss", "sac/alpha", "model/outer_loss", "model/context_norm")


def _logged(cli, key: str = "sac/critic_loss") -> list[dict[str, str]]:
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    return [r for r in rows if r.get(key)]


def test_step_metrics_are_logged_on_every_nth_step_with_step_and_epoch(run_cli):
    """Debug overlay: 4 steps an epoch, 2 epochs, log_every_n_steps 3: Lightning logs after
    batches 2 and 5 counted across epochs, i.e. at steps 2 (epoch 0) and 5 (epoch 1)."""
    cli = fit_debug(run_cli, "point_rotated.yaml", "--trainer.log_every_n_steps", "3", epochs=2)
    rows = _logged(cli)
    assert [(int(r["step"]), int(r["epoch"])) for r in rows] == [(2, 0), (5, 1)]
    for key in STEP_KEYS:
        assert all(r[key] for r in rows), key
    assert "sac/critic_loss" in cli.trainer.logged_metrics


@pytest.mark.parametrize("module", [mier, meta_model])
def test_rows_equal_those_of_log_dict_on_every_step(run_cli, monkeypatch, tmp_path, module):
    """The same seeded fit twice: once as now, once with Lightning's ``log_dict`` called on
    every training step (the previous code); the loggers receive identical rows."""
    extra: tuple[str, ...] = ("--trainer.log_every_n_steps", "3")
    if module is meta_model:
        extra += ("--config", str(CONF / "model_only.yaml"))

    def fit():
        return _logged(fit_debug(run_cli, "point_rotated.yaml", *extra, epochs=2), KEY)

    ours = fit()
    monkeypatch.setattr(module, "log_step_metrics", lambda m, metrics: m.log_dict(metrics))
    monkeypatch.chdir(tmp_path / "lightning_logs")
    theirs = fit()
    assert len(ours) == 2 and ours == theirs
