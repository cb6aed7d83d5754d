"""``python -m mier_pl evaluate``: a fit checkpoint re-evaluated on every task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mier_pl.analysis.evaluate import main
from tests.conftest import fit_debug


def test_reevaluation_covers_every_task_and_is_seeded(run_cli, monkeypatch):
    cli = fit_debug(run_cli, "point_rotated.yaml")
    run = Path(cli.trainer.log_dir)
    from mier_pl.modules.base import MetaTrainingModule

    counts = []
    original = MetaTrainingModule.evaluate_tasks

    def spy(self, collector, tasks, adapt_steps):
        counts.append((len(tasks), adapt_steps))
        return original(self, collector, tasks, adapt_steps)

    monkeypatch.setattr(MetaTrainingModule, "evaluate_tasks", spy)
    (first,) = main([str(run), "--repeats", "2"])
    assert counts == [(20, 16), (20, 16), (10, 16), (10, 16)]  # all tasks, A = batch size
    saved = json.loads((run / "final_eval.json").read_text())
    assert saved["train"]["mean"] == pytest.approx(np.mean(saved["train"]["repeats"]))
    # Per task over repeats, and the split's mean is the mean of the tasks' means.
    assert len(saved["test"]["per_task"]) == 10
    assert np.mean(saved["test"]["per_task"]) == pytest.approx(saved["test"]["mean"])
    assert saved["env_steps"] == cli.datamodule.collector.env_steps and saved["epoch"] == 1
    (again,) = main([str(run), "--repeats", "2"])
    assert again["train"] == first["train"]  # same seeds, same returns
    counts.clear()
    main([str(run), "--repeats", "1", "--adapt_steps", "45"])
    assert counts == [(20, 45), (10, 45)]


def test_a_directory_without_a_checkpoint_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"last\.ckpt does not exist"):
        main([str(tmp_path)])
