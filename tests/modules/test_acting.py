"""``--model.init_args.collect.act_on cpu``: collection and evaluation act with a CPU copy of
the actor, refreshed once per collection phase (mier_pl/modules/context_sac.py ``policy``)."""

from __future__ import annotations

import torch

from mier_pl.modules.context_sac import ContextSACModule
from tests.conftest import fit_debug


def _fit(run_cli, *extra: str):
    return fit_debug(run_cli, "point_rotated.yaml", *extra)


def test_cpu_acting_refreshes_once_per_phase_and_matches_device_acting_on_a_cpu(
    run_cli, monkeypatch
):
    """On a CPU host the copy acts with the same weights and the same generator, so the run
    is bit-identical to acting with the module itself."""
    reference = _fit(run_cli)
    calls: list[str] = []
    policy = ContextSACModule.policy
    monkeypatch.setattr(
        ContextSACModule,
        "policy",
        lambda self, act_on="device": calls.append(act_on) or policy(self, act_on),
    )
    cli = _fit(run_cli, "--model.init_args.collect.act_on", "cpu")
    # exploration, the epoch's collection, evaluation on train tasks and on test tasks, and the
    # identification probe's (diag/) on train tasks and on test tasks
    assert calls == ["cpu"] * 6
    assert cli.datamodule.collector.env_steps == reference.datamodule.collector.env_steps
    ours, theirs = cli.model.state_dict(), reference.model.state_dict()
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        assert torch.equal(value, theirs[name]), name
