"""Scoped float32 matmul precision (``--matmul_precision``).

torch's setting is process-global, but the right value depends on the matmul's size: on the
CPU, oneDNN's kernels (which ``"medium"`` enables) are faster than MKL's on training batches
and slower per call on collection's batches of a few states, where their fixed per-call cost
dominates (BENCHMARKS.md). So the run's precision
applies to updates and relabeling, and collection and evaluation pin ``"highest"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch

Precision = Literal["highest", "high", "medium"]


@contextmanager
def float32_matmul_precision(precision: Precision) -> Iterator[None]:
    """Run the block (or decorated function) at ``precision``, then restore the previous one."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
