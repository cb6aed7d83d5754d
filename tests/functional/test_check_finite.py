"""The loss guard ``check_finite`` (mier_pl/modules/common.py).

It lives here, beside the losses it guards, because tests/modules/ belongs to the module tests.
"""

from __future__ import annotations

import math

import pytest
import torch

from mier_pl.modules.common import check_finite

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
