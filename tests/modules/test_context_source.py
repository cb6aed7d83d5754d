"""The oracle-context baseline and the adaptation-data policy, end to end through ``fit``."""

from __future__ import annotations

import pytest
import torch

from mier_pl.data.batch import MetaBatch
from tests.conftest import fit_debug


def _fit(run_cli, *extra: str, config: str = "point_goal.yaml"):
    return fit_debug(run_cli, config, *extra)


def test_oracle_sac_is_conditioned_on_the_true_goal(run_cli):
    cli = _fit(run_cli, "--model.init_args.context_source", "oracle")
    model, dm = cli.model, cli.datamodule
    assert model.sac.actor.net[0].in_features == 2 + 2  # obs (2) + (cos, sin) of the goal
    batch: MetaBatch = next(iter(dm.train_dataloader()))
    context = model.training_context(batch, torch.full((batch.task_ids.numel(), 5), 9.0))
    for row, task in zip(context, batch.task_ids.tolist()):
        assert torch.allclose(row, torch.tensor(dm.collector.train_tasks[task].goal).float())
    # Acting: the posterior phase and evaluation get the tasks' goals, the prior phase zeros.
    tasks = list(dm.collector.test_tasks[:3])
    acting = model.acting_context(tasks, dm.collector)(None)
    assert torch.allclose(acting, torch.tensor([t.goal for t in tasks]).float())
    assert torch.equal(model.prior_context, torch.zeros(1, 2))
    logged = cli.trainer.logged_metrics
    assert "eval/test_return_oracle" in logged and "eval/test_return_mier_wr" not in logged


def test_oracle_refused_for_a_module_without_the_encoding():
    from mier_pl.modules import MIERModule

    with pytest.raises(ValueError, match="defines none"):
        MIERModule(2, 2, context_source="oracle", task_encoding_dim=0)


@pytest.mark.parametrize("policy", ["context", "uniform"])
def test_adaptation_policy_decides_who_acts_with_the_prior_context(run_cli, monkeypatch, policy):
    """ "context": the SAC policy acts with φ₀ in exploration, the P steps and evaluation's A
    steps; "uniform": it never does (uniform random actions instead), and only acts with φ_T."""
    from mier_pl.fast.acting import ActingSnapshot

    calls = {"prior": 0, "adapted": 0}
    original = ActingSnapshot.__call__  # how collection and evaluation act

    def counting(self, obs, context, deterministic=False):
        calls["prior" if bool((context == 0).all()) else "adapted"] += 1
        return original(self, obs, context, deterministic)

    monkeypatch.setattr(ActingSnapshot, "__call__", counting)
    cli = _fit(run_cli, "--model.init_args.collect.adaptation_policy", policy)
    assert calls["adapted"] > 0
    if policy == "uniform":
        assert calls["prior"] == 0
        actions = cli.datamodule.buffer.sample(torch.arange(40), 20, pre_adapt=True).act
        assert abs(actions.mean().item()) < 0.05 and abs(actions.std().item() - 3**-0.5) < 0.02
    else:
        assert calls["prior"] > 0


def test_eval_adapt_steps_sets_the_evaluation_data(run_cli, monkeypatch):
    from mier_pl.modules.base import MetaTrainingModule

    seen = []
    original = MetaTrainingModule.evaluate_tasks

    def spy(self, collector, tasks, adapt_steps, record=None):
        seen.append(adapt_steps)
        return original(self, collector, tasks, adapt_steps, record)

    monkeypatch.setattr(MetaTrainingModule, "evaluate_tasks", spy)
    _fit(run_cli, "--model.init_args.eval.adapt_steps", "37")
    assert seen == [37, 37]  # train and test evaluation
    seen.clear()
    _fit(run_cli, config="cheetah_vel.yaml")  # a config that leaves eval.adapt_steps unset
    assert seen == [16, 16]  # default: the data module's batch size (debug overlay)


def test_sac_context_steps_adapts_sacs_contexts_on_their_own_window(run_cli):
    """With ``data.sac_context_steps`` N, SAC's training contexts are the model's first-order
    φ_T of the N-step window (what acting with A = N gives), not the support's."""
    cli = _fit(run_cli, "--data.sac_context_steps", "60")
    model, dm = cli.model, cli.datamodule
    batch: MetaBatch = next(iter(dm.train_dataloader()))
    assert batch.context_support.batch_shape == (batch.task_ids.numel(), 60)
    support_phi = torch.full((batch.task_ids.numel(), 5), 9.0)
    context = model.training_context(batch, support_phi)
    assert torch.equal(context, model.meta.adapt(batch.context_support))
    assert not torch.equal(context, model.meta.adapt(batch.support))
    batch.context_support = None  # the release: the support's φ_T, untouched
    assert torch.equal(model.training_context(batch, support_phi), support_phi)
