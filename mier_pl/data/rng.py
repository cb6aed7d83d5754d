"""The training device's CUDA generator state, for checkpoints.

Each process saves and restores the generator of its own device only: ``get_rng_state_all``
(every visible GPU) makes a rank save states it never drew from, and a resume on a host with
fewer GPUs fails to set them. Replay sampling and the SAC policy's noise on a GPU draw from
that device's generator, so a resume without it is not reproducible.
"""

from __future__ import annotations

import torch
from torch import Tensor


def device_rng_state(device: torch.device | str) -> Tensor | None:
    """The CUDA generator state of ``device`` (``None`` for a CPU or other device)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.get_rng_state(device)


def restore_device_rng_state(state: Tensor | None, device: torch.device | str) -> None:
    """Set ``device``'s CUDA generator from :func:`device_rng_state`'s ``state``."""
    device = torch.device(device)
    if device.type != "cuda" or state is None:
        return
    torch.cuda.set_rng_state(state, device)
