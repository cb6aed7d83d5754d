"""The loss guards ``check_finite`` and ``FiniteGuard`` (mier_pl/modules/common.py).

It lives here, beside the losses it guards, because tests/modules/ belongs to the module tests.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from mier_pl.modules.common import FiniteGuard, check_finite

WHERE = "epoch 3, batch 17"
HINT = "Lower --model.dynamics.lr."


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_raises_naming_the_loss_and_the_step(bad):
    losses = {
        "model/outer_loss": torch.tensor(1.25),
        "sac/critic_loss": torch.tensor(bad, dtype=torch.float64),
        "sac/actor_loss": torch.tensor([0.5]),
    }
    with pytest.raises(FloatingPointError) as info:
        check_finite(losses, WHERE, HINT)
    message = str(info.value)
    assert WHERE in message and HINT in message
    assert f"sac/critic_loss={bad}" in message
    assert "model/outer_loss" not in message and "sac/actor_loss" not in message


def test_every_bad_loss_is_named():
    losses = {"a": torch.tensor(math.nan), "b": torch.tensor(2.0), "c": torch.tensor(math.inf)}
    with pytest.raises(FloatingPointError, match=r"a=nan, c=inf"):
        check_finite(losses, WHERE, HINT)


def test_finite_losses_pass():
    losses = {
        "a": torch.tensor(0.0),
        "b": torch.tensor(-3.5e30, dtype=torch.float64),
        "c": torch.tensor(2.0, requires_grad=True) * 3,
        "d": torch.tensor(1.0, dtype=torch.bfloat16),
    }
    assert check_finite(losses, WHERE, HINT) is None


def test_large_finite_float64_loss_is_not_called_non_finite():
    check_finite({"model/outer_loss": torch.tensor(1e300, dtype=torch.float64)}, WHERE, HINT)


# ------------------------------------------------------------------ FiniteGuard (deferred)
def steps(values: list[float]) -> list[dict[str, torch.Tensor]]:
    return [
        {"sac/critic_loss": torch.tensor(v), "sac/actor_loss": torch.tensor(-v)} for v in values
    ]


def test_guard_reports_the_first_bad_step_with_its_values():
    guard = FiniteGuard()
    for i, losses in enumerate(steps([1.0, 2.0, math.nan, math.inf, 5.0])):
        guard.record(losses, f"epoch 0, batch {i}", HINT)
    with pytest.raises(FloatingPointError) as info:
        guard.check()
    message = str(info.value)
    assert "at epoch 0, batch 2:" in message and HINT in message
    assert "sac/critic_loss=nan, sac/actor_loss=nan" in message
    assert "inf" not in message  # batch 3 is later; only the first bad step is reported


def test_guard_passes_finite_steps_and_restarts_its_window_after_a_check():
    guard = FiniteGuard()
    for i, losses in enumerate(steps([1.0, 2.0, 1e30])):
        guard.record(losses, f"epoch 0, batch {i}", HINT)
    guard.check()  # finite: nothing raised, the window starts again
    for i, losses in enumerate(steps([3.0, math.inf]), start=3):
        guard.record(losses, f"epoch 0, batch {i}", HINT)
    with pytest.raises(FloatingPointError, match=r"batch 4: sac/critic_loss=inf"):
        guard.check()


def test_guard_keeps_call_sites_apart():
    guard = FiniteGuard()
    guard.record({"model/outer_loss": torch.tensor(math.nan)}, "epoch 1, batch 0", "model hint.")
    guard.record({"sac/critic_loss": torch.tensor(1.0)}, "epoch 1, batch 0", "sac hint.")
    with pytest.raises(FloatingPointError, match=r"model/outer_loss=nan\. model hint\."):
        guard.check()


def test_guard_record_never_syncs_with_the_host(monkeypatch):
    """Every way a tensor reaches the host raises while steps are recorded."""

    def sync(*_args, **_kwargs):
        raise AssertionError("host sync in FiniteGuard.record")

    guard = FiniteGuard()
    guard.record(steps([1.0])[0], "warm-up", HINT)  # first call allocates the site's state
    for name in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    for i, losses in enumerate(steps([1.0, math.nan, 2.0])):
        guard.record(losses, f"batch {i}", HINT)
    monkeypatch.undo()
    with pytest.raises(FloatingPointError, match="batch 1"):
        guard.check()


def _trainer(log_every_n_steps: int, total_batch_idx: int) -> SimpleNamespace:
    return SimpleNamespace(
        log_every_n_steps=log_every_n_steps,
        num_training_batches=120,
        fit_loop=SimpleNamespace(total_batch_idx=total_batch_idx),
    )


@pytest.mark.parametrize(
    ("epoch", "batch_idx", "due"),
    [
        *[(0, 0, False), (0, 7, False), (0, 49, True), (0, 50, False), (0, 99, True)],
        *[(0, 119, True), (1, 0, False), (1, 29, True), (1, 79, True), (1, 119, True)],
    ],
)
def test_guard_checks_on_lightnings_logging_steps_and_on_the_epochs_last_step(
    epoch, batch_idx, due
):
    """With log_every_n_steps 50 and 120 steps per epoch Lightning logs after batches 49, 99,
    149 (epoch 1's 29), … counted across epochs; the guard's one sync joins those."""
    trainer = _trainer(50, epoch * 120 + batch_idx)
    guard = FiniteGuard()
    guard.record({"a": torch.tensor(math.nan)}, f"batch {batch_idx}", HINT)
    if due:
        with pytest.raises(FloatingPointError):
            guard.check_if_due(SimpleNamespace(trainer=trainer), batch_idx)
    else:
        guard.check_if_due(SimpleNamespace(trainer=trainer), batch_idx)


def test_guard_with_step_logging_off_checks_every_step():
    trainer = _trainer(0, 7)
    guard = FiniteGuard()
    guard.record({"a": torch.tensor(math.inf)}, "batch 7", HINT)
    with pytest.raises(FloatingPointError, match="batch 7"):
        guard.check_if_due(SimpleNamespace(trainer=trainer), 7)


def _tensors(arg) -> bool:
    """A tensor argument, or a list of them (``stack``'s): data, not a constant."""
    if isinstance(arg, (list, tuple)):
        return bool(arg) and all(isinstance(a, torch.Tensor) for a in arg)
    return isinstance(arg, torch.Tensor)


def test_guard_record_issues_the_same_ops_with_the_same_constants_every_step():
    """What a compiled or CUDA-graph-captured step needs: no Python value that changes between
    steps (the index of the first bad step used to be ``len(where)``, a new constant each step)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            constants = tuple(a for a in args if not _tensors(a))
            self.calls.append((str(func), constants))
            return func(*args, **(kwargs or {}))

    guard = FiniteGuard()
    losses = steps([1.0, 2.0, 3.0, 4.0])
    guard.record(losses[0], "batch 0", HINT)  # first call allocates the site's state
    traces = []
    for i, step in enumerate(losses[1:], start=1):
        with Ops() as mode:
            guard.record(step, f"batch {i}", HINT)
        traces.append(mode.calls)
    assert traces[0] and traces[0] == traces[1] == traces[2]
