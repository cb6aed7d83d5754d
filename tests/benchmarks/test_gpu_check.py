"""``make gpu-check`` (scripts/gpu_check.sh) refuses cleanly where no GPU is visible."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the check would run")
def test_gpu_check_refuses_without_a_gpu_naming_the_fix(tmp_path):
    out = subprocess.run(
        [str(ROOT / "scripts" / "gpu_check.sh")],
        env={**os.environ, "PY": sys.executable},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "no CUDA device is visible" in out.stderr and "CUDA build of torch" in out.stderr
    assert "GPU_CHECK_ACCELERATOR=cpu" in out.stderr
