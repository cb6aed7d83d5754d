"""Shared fixtures: run the CLI in a temporary directory."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# Headless rendering for the video tests (before anything imports mujoco); libosmesa6.
os.environ.setdefault("MUJOCO_GL", "osmesa")
# Whether MuJoCo frames can be rendered here; CI (.ci/run sets MIER_REQUIRE_GL=1) must render
# for real, so there a missing library fails instead of skipping.
HAVE_GL = bool(os.environ.get("MIER_REQUIRE_GL")) or (
    os.environ.get("MUJOCO_GL") == "osmesa"
    and subprocess.run(["sh", "-c", "ldconfig -p | grep -q libOSMesa"]).returncode == 0
)

# The Meta-World families need the optional metaworld package (docs/metaworld.md); their tests
# skip, saying so, where it is absent (`make test-metaworld` installs it and runs them).
HAVE_METAWORLD = importlib.util.find_spec("metaworld") is not None
METAWORLD_SKIP = "metaworld is not installed: `make test-metaworld` (docs/metaworld.md)"
METAWORLD_FAMILIES = ("ml1-reach", "ml1-push", "ml1-pick-place", "ml10")
needs_metaworld = pytest.mark.skipif(not HAVE_METAWORLD, reason=METAWORLD_SKIP)


def families(names) -> list:
    """``names`` as pytest params, the Meta-World ones skipped where metaworld is absent."""
    return [pytest.param(n, marks=needs_metaworld) if n in METAWORLD_FAMILIES else n for n in names]


def pytest_collection_modifyitems(items):
    """A test that runs the CLI (the ``run_cli`` fixture) is an end-to-end test: ``e2e``."""
    for item in items:
        if "run_cli" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def run_cli(tmp_path, monkeypatch):
    """Call ``python -m mier_pl`` in-process from ``tmp_path``; returns the CLI object."""
    from mier_pl.cli.main import main

    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        return main([str(a) for a in args])

    return run


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def metric_series(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key)]


def fit_debug(run_cli, config: str = "point_rotated.yaml", *extra: str, epochs: int | None = 1):
    """``fit`` of ``conf/<config>`` shrunk by the debug overlay, no bar; ``epochs`` epochs (None:
    the debug overlay's own, or what ``extra`` says)."""
    length = () if epochs is None else ("--trainer.max_epochs", str(epochs))
    return run_cli(
        "fit",
        "--config",
        CONF / config,
        "--config",
        CONF / "debug.yaml",
        *length,
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    )
