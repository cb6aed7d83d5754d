"""The Python quick starts (README.md, docs/python_api.md) run as written, shrunk to debug
sizes by replacing their settings, and give numbers; the public names import from mier_pl."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# conf/debug.yaml's sizes, substituted into the documented code; each must still match.
DEBUG = {
    "batch_size=64": "batch_size=16, meta_batch_size=3, capacity=5000",
    "steps_per_epoch=250": "steps_per_epoch=4",
    "warmup_steps=5000": "warmup_steps=0",
    "hidden=64,": "hidden=32,",
    "hidden=(64, 64)": "hidden=(32, 32)",
    "hidden=(200, 200, 200), kl_weight=0.1, meta_batch=16": (
        "hidden=(32, 32), kl_weight=0.1, meta_batch=3, context_batch=16, sac_batch=16"
    ),
    "initial_exploration_repeats=2, prior_steps=60, posterior_steps=60": (
        "initial_exploration_repeats=1, tasks_per_epoch=2, prior_steps=20, posterior_steps=20"
    ),
    "interval=5, adapt_steps=300": "interval=1, adapt_steps=30, train_tasks=2, test_tasks=2",
    "max_epochs=40": "max_epochs=1, enable_progress_bar=False",
    'adapt_steps=300, posterior_steps=300, model_steps=100, relabel="reward", epochs=5, '
    "loop_steps=200": 'adapt_steps=30, model_steps=3, relabel="reward", epochs=2, loop_steps=4, '
    "refresh_every=2, synthetic_tasks=3, synthetic_per_task=20, batch_size=32, "
    "synthetic_capacity=100",
}
# The README's short version has no sizes to replace for these: debug ones are added.
README_DEBUG = {
    "steps_per_epoch=250)": "steps_per_epoch=4, batch_size=16, meta_batch_size=3)",
    "collect=collect)": "collect=collect, dynamics=DynamicsConfig(hidden=32, layers=2), "
    "sac=SACConfig(hidden=(32, 32)), eval=EvalConfig(interval=1, train_tasks=2, test_tasks=2))",
    'tasks="0")': 'tasks="0", settings=AdaptConfig(adapt_steps=30, model_steps=3, epochs=2, '
    "loop_steps=4, refresh_every=2, synthetic_tasks=3, synthetic_per_task=20, batch_size=32, "
    "synthetic_capacity=100))",
}


def _python_blocks(path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def _shrink(code: str, replacements: dict[str, str]) -> tuple[str, set[str]]:
    used = {old for old in replacements if old in code}
    for old in used:
        code = code.replace(old, replacements[old])
    return code, used


def _run(code: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__quickstart__"}
    exec(compile(code, "<quick start>", "exec"), namespace)
    return namespace


def test_the_docs_have_a_mier_and_a_pearl_quick_start():
    blocks = _python_blocks(ROOT / "docs" / "python_api.md")
    assert len(blocks) == 2 and "MIERModule(" in blocks[0] and "PEARLModule(" in blocks[1]
    used = set().union(*(_shrink(b, DEBUG)[1] for b in blocks))
    assert used == set(DEBUG), f"the docs no longer contain {set(DEBUG) - used}"


def test_mier_quick_start_fits_adapts_and_reads_results(tmp_path, monkeypatch, capsys):
    code, _ = _shrink(_python_blocks(ROOT / "docs" / "python_api.md")[0], DEBUG)
    ns = _run(code, tmp_path, monkeypatch)
    assert ns["trainer"].current_epoch == 1
    assert (tmp_path / "runs" / "quickstart" / "last.ckpt").is_file()
    task = ns["task"]
    assert task.task == 0 and task.description.startswith("angle=")
    assert len(task.mier) == 2 and all(math.isfinite(r) for r in [task.mier_wr, *task.mier])
    # 30 steps of −distance to a goal 1 away, moving at most 0.1·√2 a step.
    assert -30 * (1 + 3 * math.sqrt(2)) < task.mier_wr < 0
    assert ns["results"].summary()["tasks"] == 1
    assert (tmp_path / "runs/quickstart/lightning_logs/point-goal/adapt_0/results.json").is_file()
    out = capsys.readouterr().out
    assert "train return -" in out and "MIER-wR" in out


def test_pearl_quick_start_fits_and_evaluates(tmp_path, monkeypatch, capsys):
    code, _ = _shrink(_python_blocks(ROOT / "docs" / "python_api.md")[1], DEBUG)
    ns = _run(code, tmp_path, monkeypatch)
    assert ns["trainer"].current_epoch == 1
    (task,) = ns["results"].tasks
    assert task.task == 0 and math.isfinite(task.mier_wr) and task.mier == []
    assert "PEARL test return -" in capsys.readouterr().out


def test_readme_quick_start(tmp_path, monkeypatch):
    (block,) = _python_blocks(ROOT / "README.md")
    code, used = _shrink(block, README_DEBUG)
    assert used == set(README_DEBUG)
    code, _ = _shrink(code, {"max_epochs=40": "max_epochs=1, enable_progress_bar=False"})
    extra = "from mier_pl import AdaptConfig, DynamicsConfig, EvalConfig, SACConfig\n"
    ns = _run(extra + code, tmp_path, monkeypatch)
    assert len(ns["results"].tasks[0].mier) == 2


def test_public_names_import_from_mier_pl_without_loading_lightning():
    code = (
        "import sys, mier_pl\n"
        "assert 'pytorch_lightning' not in sys.modules, 'import mier_pl loaded Lightning'\n"
        "from mier_pl import *\n"
        "missing = [n for n in mier_pl.__all__ if not hasattr(mier_pl, n)]\n"
        "assert not missing, missing\n"
        "from mier_pl import MIERModule, ReplayDataModule, RelabelCallback, MetaEnv\n"
        "print(MIERModule.__module__, ReplayDataModule.__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["mier_pl.modules.mier", "mier_pl.data.datamodule"]


def test_an_unknown_name_is_an_attribute_error():
    import mier_pl

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mier_pl.Nope  # noqa: B018
