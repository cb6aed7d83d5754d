"""``notebooks/results.ipynb`` runs top to bottom on a tiny results set (so it never rots)."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from mier_pl.analysis.results import AdaptResults, TaskResult, write_results
from mier_pl.data.video import Video, mp4_available, write_video
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

NOTEBOOK = ROOT / "notebooks" / "results.ipynb"


def tiny_results() -> AdaptResults:
    return AdaptResults(
        family="point-rotated",
        checkpoint="lightning_logs/point-rotated/version_0/checkpoints/last.ckpt",
        settings={"epochs": 3},
        tasks=[
            TaskResult(0, "angle=1.05", -24.0, [-18.0, -15.0, -14.0], seconds=12.0),
            TaskResult(
                3,
                "angle=1.22",
                -27.5,
                [-20.0, -16.5, -15.5],
                model_fallback=True,
                model_report="validation loss rose from 0.5 to 9 over 20 model steps",
            ),
        ],
    )


def test_notebook_reproduces_table_and_figures(tmp_path, monkeypatch):
    run = tmp_path / "lightning_logs" / "point-rotated" / "adapt_0"
    write_results(tiny_results(), run)
    clip = Video(np.full((3, 32, 32, 3), 90, np.uint8), 10.0, "c", 0.0)
    for task in ("task_00", "task_03"):
        for name in ("mier_wr", "mier"):
            write_video(clip, run / task / name)
    monkeypatch.setenv("MIER_RESULTS_DIR", str(run))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # both figures
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "MIER-wR vs MIER" in text and "-25.75" in text and "-14.75" in text  # mean row
    assert "rose from 0.5 to 9" in text  # the fallback is reported
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    tag = "<video" if mp4_available() else "<img"
    assert html.count(tag) == 4 and "task 3" in html  # MIER-wR and MIER, side by side
