"""The own device's CUDA generator in checkpoints (mier_pl/data/rng.py), checked on a CPU host.

torch.cuda's generator functions are replaced by recorders: each process must read and set
the state of its own device only, never every visible GPU's (``*_all``).
"""

from __future__ import annotations

import pytest
import torch

from mier_pl.data.rng import device_rng_state, restore_device_rng_state


@pytest.fixture
def fake_cuda(monkeypatch):
    """Per-device fake generator states; ``calls`` records every get and set."""
    calls: list[tuple[str, int, torch.Tensor | None]] = []

    def get(device):
        calls.append(("get", torch.device(device).index, None))
        return torch.full((4,), torch.device(device).index, dtype=torch.uint8)

    def set_(state, device):
        calls.append(("set", torch.device(device).index, state))

    def everything(*args, **kwargs):
        raise AssertionError("the state of every visible GPU was read or set")

    monkeypatch.setattr(torch.cuda, "get_rng_state", get)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", everything)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", everything)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return calls


def test_own_device_state_is_saved_and_restored_to_that_device(fake_cuda):
    state = device_rng_state(torch.device("cuda", 1))
    assert torch.equal(state, torch.full((4,), 1, dtype=torch.uint8))
    restore_device_rng_state(state, "cuda:1")
    assert [c[:2] for c in fake_cuda] == [("get", 1), ("set", 1)]
    assert fake_cuda[1][2] is state


def test_a_cpu_run_saves_and_sets_no_cuda_state(fake_cuda):
    assert device_rng_state("cpu") is None
    restore_device_rng_state(None, "cpu")
    restore_device_rng_state(torch.zeros(4, dtype=torch.uint8), "cpu")
    assert fake_cuda == []
