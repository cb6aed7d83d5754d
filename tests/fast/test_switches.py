"""Each speed-only path of mier_pl/fast/ turns off on its own and computes the same thing."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from mier_pl.fast import hook_dispatch
from mier_pl.fast.acting import ActingSnapshot
from mier_pl.modules.context_sac import ContextSACModule, SACConfig
from tests.conftest import ROOT

F64 = torch.float64


def _sac(snapshot_acting: bool) -> ContextSACModule:
    torch.manual_seed(0)
    cfg = SACConfig(hidden=(16, 16), snapshot_acting=snapshot_acting)
    return ContextSACModule(obs_dim=3, act_dim=2, context_dim=4, sac=cfg).double()


def test_snapshot_acting_off_acts_with_the_actor_and_gives_the_same_actions():
    fast, plain = _sac(True), _sac(False)
    assert isinstance(fast.policy(), ActingSnapshot)
    assert plain.policy() == plain.act  # the actor itself
    obs, context = torch.randn(5, 3, dtype=F64), torch.randn(5, 4, dtype=F64)
    exact = dict(rtol=0, atol=1e-12)  # float64: another summation order, nothing else
    torch.testing.assert_close(
        fast.policy()(obs, context, True), plain.policy()(obs, context, True), **exact
    )
    torch.manual_seed(1)
    noisy = fast.policy("cpu")(obs, context)
    torch.manual_seed(1)
    torch.testing.assert_close(noisy, plain.policy("cpu")(obs, context), **exact)


@pytest.mark.e2e
def test_plain_hook_name_turns_off_from_the_environment():
    code = "from mier_pl.fast import hook_dispatch as h; print(h.PLAIN_HOOK_NAME)"
    for value, expected in (("0", "False"), ("1", "True")):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={"MIER_FAST_HOOKS": value, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected


def test_plain_hook_name_off_goes_through_nn_module_setattr(monkeypatch):
    class Net(hook_dispatch.PlainHookName, torch.nn.Module):
        pass

    net = Net()
    seen: list[str] = []
    setattr_ = torch.nn.Module.__setattr__
    monkeypatch.setattr(
        torch.nn.Module, "__setattr__", lambda s, n, v: seen.append(n) or setattr_(s, n, v)
    )
    net._current_fx_name = "training_step"  # the shortcut: nn.Module's lookup skipped
    assert seen == [] and net._current_fx_name == "training_step"
    monkeypatch.setattr(hook_dispatch, "PLAIN_HOOK_NAME", False)
    net._current_fx_name = "on_train_start"
    assert seen == ["_current_fx_name"] and net._current_fx_name == "on_train_start"
