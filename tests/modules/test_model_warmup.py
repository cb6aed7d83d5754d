"""``dynamics.warmup_steps``: the model's meta-updates on the initial exploration before the
first epoch, with no env steps and no SAC step, on fresh runs only."""

from __future__ import annotations

import pytest

from mier_pl.modules.mier import MIERModule
from tests.conftest import fit_debug


def _first_epoch_state(monkeypatch) -> list[dict]:
    """What the module looks like when its first epoch starts, before that epoch collects."""
    seen: list[dict] = []
    original = MIERModule.on_train_epoch_start

    def start(self):
        if not seen:
            model_opt, critic_opt, _ = (o.optimizer for o in self.optimizers())
            seen.append(
                {
                    "model_steps": {int(s["step"]) for s in model_opt.state.values()},
                    "critic_states": len(critic_opt.state),
                    "env_steps": self.data.collector.env_steps,
                    "stored": int(self.data.buffer.added.sum()),
                }
            )
        original(self)

    monkeypatch.setattr(MIERModule, "on_train_epoch_start", start)
    return seen


@pytest.mark.parametrize("warmup", [0, 7])
def test_warmup_steps_are_model_steps_before_the_first_epoch(run_cli, monkeypatch, warmup):
    seen = _first_epoch_state(monkeypatch)
    calls = []
    monkeypatch.setattr(
        MIERModule,
        "after_initial_exploration",
        lambda self, f=MIERModule.after_initial_exploration: (calls.append(1), f(self)),
    )
    cli = fit_debug(
        run_cli, "point_goal.yaml", "--model.init_args.dynamics.warmup_steps", str(warmup)
    )
    (state,) = seen
    # Exploration only: debug overlay's 1 repeat × 20 steps × 40 tasks, nothing else collected.
    assert state["env_steps"] == state["stored"] == 40 * 20
    # Exactly W Adam steps of the model, none of the critic (whose Adam has no state yet).
    assert state["model_steps"] == ({warmup} if warmup else set())
    assert state["critic_states"] == 0
    assert calls == [1]
    assert cli.trainer.global_step > 0  # the training loop's own steps are counted as before


def test_a_resumed_run_does_not_warm_up_again(run_cli, monkeypatch):
    fit_debug(run_cli, "point_goal.yaml", "--model.init_args.dynamics.warmup_steps", "3")
    ran = []
    monkeypatch.setattr(MIERModule, "after_initial_exploration", lambda self: ran.append(1))
    fit_debug(
        run_cli,
        "point_goal.yaml",
        "--model.init_args.dynamics.warmup_steps",
        "3",
        "--ckpt_path",
        "last",
        epochs=2,
    )
    assert ran == []
