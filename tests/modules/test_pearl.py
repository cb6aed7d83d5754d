"""PEARL (mier_pl.modules.PEARLModule): its maths against hand computations, which loss
reaches the encoder, shapes on every family, and fit/resume through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.envs import make_env
from mier_pl.envs.registry import FAMILY_NAMES
from mier_pl.functional import pearl_posterior as P
from mier_pl.modules import PEARLModule
from mier_pl.modules.context_sac import SACConfig
from mier_pl.modules.pearl import PEARLConfig
from tests.conftest import CONF, families, metric_series, read_metrics

PEARL = CONF / "pearl.yaml"


def _batch(tasks: int, n: int, obs_dim: int, act_dim: int) -> TransitionBatch:
    return TransitionBatch(
        obs=torch.randn(tasks, n, obs_dim),
        act=torch.rand(tasks, n, act_dim) * 2 - 1,
        rew=torch.randn(tasks, n),
        next_obs=torch.randn(tasks, n, obs_dim),
        terminated=torch.zeros(tasks, n),
        truncated=torch.zeros(tasks, n),
    )


def test_product_of_gaussians_matches_a_hand_computation():
    # N(1, 1) · N(3, 3): precision 1 + 1/3 = 4/3, so σ² = 0.75 and μ = 0.75 · (1/1 + 3/3) = 1.5;
    # a second dim N(0, 2) · N(4, 2): σ² = 1, μ = 1 · (0 + 2) = 2.
    mean = torch.tensor([[[1.0, 0.0], [3.0, 4.0]]])
    var = torch.tensor([[[1.0, 2.0], [3.0, 2.0]]])
    post_mean, post_var = P.product_of_gaussians(mean, var)
    torch.testing.assert_close(post_mean, torch.tensor([[1.5, 2.0]]))
    torch.testing.assert_close(post_var, torch.tensor([[0.75, 1.0]]))


def test_product_of_gaussians_is_permutation_invariant_and_tightens():
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(3, 50, 5, generator=gen)
    var = torch.rand(3, 50, 5, generator=gen) + 0.1
    perm = torch.randperm(50, generator=gen)
    a = P.product_of_gaussians(mean, var)
    b = P.product_of_gaussians(mean[:, perm], var[:, perm])
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert (a[1] < var.min(dim=1).values).all()  # more factors: tighter than any one


def test_kl_matches_the_closed_form_of_torch_distributions():
    gen = torch.Generator().manual_seed(1)
    mean = torch.randn(4, 5, generator=gen)
    var = torch.rand(4, 5, generator=gen) + 0.05
    q = torch.distributions.Normal(mean, var.sqrt())
    p = torch.distributions.Normal(torch.zeros(5), torch.ones(5))
    expected = torch.distributions.kl_divergence(q, p).sum()
    torch.testing.assert_close(P.kl_to_standard_normal(mean, var), expected)
    assert float(P.kl_to_standard_normal(torch.zeros(2, 5), torch.ones(2, 5))) == 0.0


def _encoder_grad_norm(module: PEARLModule) -> float:
    return sum(float(p.grad.norm()) for p in module.encoder.parameters() if p.grad is not None)


def test_encoder_gets_critic_gradients_and_no_actor_gradients():
    torch.manual_seed(0)
    module = PEARLModule(4, 2, reward_only=True, sac=SACConfig(hidden=(32, 32)))
    optimizers = module.configure_optimizers()
    seen: list[tuple[int, float]] = []
    for i, opt in enumerate(optimizers):  # the encoder's gradient as each optimiser steps
        opt.register_step_pre_hook(
            lambda o, args, kwargs, i=i: seen.append((i, _encoder_grad_norm(module)))
        )
    # The policy optimiser does not hold the encoder: clear what the critic's step left there.
    optimizers[0].register_step_post_hook(
        lambda o, args, kwargs: [setattr(p, "grad", None) for p in module.encoder.parameters()]
    )

    before = [p.detach().clone() for p in module.encoder.parameters()]
    metrics = module.update(_batch(3, 10, 4, 2), _batch(3, 16, 4, 2), optimizers)
    (critic_step, critic_norm), (policy_step, policy_norm) = seen
    assert (critic_step, policy_step) == (0, 1)
    assert critic_norm > 0  # the critic loss (+ KL) reaches the encoder
    assert policy_norm == 0  # the actor and α losses do not
    moved = [not torch.equal(b, p) for b, p in zip(before, module.encoder.parameters())]
    assert all(moved)  # the encoder is stepped by the critic's optimiser (its own group)
    assert float(metrics["kl"]) > 0


def test_critic_loss_alone_reaches_the_encoder_without_the_kl():
    torch.manual_seed(0)
    module = PEARLModule(4, 2, reward_only=True, pearl=PEARLConfig(kl_weight=0.0))
    optimizers = module.configure_optimizers()
    norms = []
    optimizers[0].register_step_pre_hook(lambda o, a, k: norms.append(_encoder_grad_norm(module)))
    module.update(_batch(2, 8, 4, 2), _batch(2, 8, 4, 2), optimizers)
    assert norms[0] > 0


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_shapes_on_every_family(family):
    env = make_env(family)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    module = PEARLModule(obs_dim, act_dim, reward_only=env.reward_only, sac=SACConfig(hidden=(16,)))
    assert module.use_next_obs == (not env.reward_only)  # oyster's walker JSON: dynamics tasks
    in_dim = module.encoder[0].in_features
    assert in_dim == obs_dim + act_dim + 1 + (0 if env.reward_only else obs_dim)
    context = _batch(3, 7, obs_dim, act_dim)
    mean, var = module.posterior(context)
    assert mean.shape == var.shape == (3, 5) and (var > 0).all()
    params = module.posterior_params(context, subsample=4)
    assert params.shape == (3, 10)
    actions = module.policy()(torch.randn(3, obs_dim), params, False)
    assert actions.shape == (3, act_dim) and actions.abs().max() <= 1


def test_policy_samples_one_z_per_context_tensor():
    torch.manual_seed(0)
    module = PEARLModule(2, 2, reward_only=True)
    policy = module.policy()
    obs = torch.zeros(4, 2)
    prior = module.prior_context.expand(4, -1)
    a1, a2 = policy(obs, prior, True), policy(obs, prior, True)
    torch.testing.assert_close(a1, a2)  # the same tensor: the same z (a rollout)
    a3 = policy(obs, module.prior_context.expand(4, -1), True)
    assert not torch.equal(a1, a3)  # a new tensor: a new z from the prior


def _fit(run_cli, *extra: str, epochs: int = 1):
    return run_cli(
        "fit",
        "--config",
        CONF / "point_goal.yaml",
        "--config",
        CONF / "debug.yaml",
        "--config",
        PEARL,
        "--trainer.max_epochs",
        str(epochs),
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    )


def test_debug_fit_logs_pearl_returns_and_matches_mier_env_steps(run_cli, monkeypatch):
    from mier_pl.data.buffer import MultiTaskReplay

    draws = {"pre_adapt": 0, "all": 0}  # PEARL draws no support batches: only the loader did
    original = MultiTaskReplay.sample

    def counting(self, task_ids, n, pre_adapt=False, generator=None):
        draws["pre_adapt" if pre_adapt else "all"] += 1
        return original(self, task_ids, n, pre_adapt, generator)

    monkeypatch.setattr(MultiTaskReplay, "sample", counting)
    cli = _fit(run_cli)
    # The loader sampled no meta-batch (PEARL ignores it): only PEARL's own two draws a step.
    assert not cli.datamodule.meta_batches and draws["pre_adapt"] == 0
    steps = cli.trainer.global_step // 2  # two optimizer steps per training step
    assert steps > 0 and draws["all"] == 2 * steps  # one context and one SAC batch a step
    dm, model = cli.datamodule, cli.model
    assert isinstance(model, PEARLModule)
    # the same collection as MIER's debug run: 1 × 20 steps per task, then 2 tasks × (20 + 20)
    assert dm.collector.env_steps == dm.num_train_tasks * 20 + 2 * 40
    # the encoder replay: the initial 20 per task, then each epoch task's 20 fresh prior steps
    assert int(model.context_replay.size().max()) == 20
    assert int(model.context_replay.added.sum()) == dm.num_train_tasks * 20
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    for key in ("eval/train_return", "eval/test_return_pearl", "pearl/kl", "sac/critic_loss"):
        values = metric_series(rows, key)
        assert values and all(torch.isfinite(torch.tensor(values))), key
    # point-goal returns are negative distances summed over 30 steps
    assert -200 < metric_series(rows, "eval/test_return_pearl")[0] < 0


def test_resume_restores_encoder_optimisers_and_both_replays(run_cli):
    from mier_pl.data.checkpoint_io import read_checkpoint

    first = _fit(run_cli)
    ckpt = Path(first.trainer.log_dir) / "checkpoints" / "last.ckpt"
    saved = read_checkpoint(ckpt)
    assert len(saved["optimizer_states"]) == 2
    critic_groups = saved["optimizer_states"][0]["param_groups"]
    assert len(critic_groups) == 2 and critic_groups[1]["lr"] == pytest.approx(3e-4)
    encoder_state = saved["optimizer_states"][0]["state"]
    assert len(encoder_state) == len(critic_groups[0]["params"]) + len(critic_groups[1]["params"])

    second = _fit(run_cli, "--ckpt_path", str(ckpt))  # max_epochs reached: restore only
    model = second.model
    for name, value in saved["state_dict"].items():
        torch.testing.assert_close(model.state_dict()[name], value, msg=name)
    restored = model.context_replay.state_dict()
    for name, value in saved["pearl"]["context_replay"].items():
        torch.testing.assert_close(restored[name], value, msg=name)
    opt = second.trainer.optimizers[0].state_dict()
    for k, v in saved["optimizer_states"][0]["state"].items():
        torch.testing.assert_close(opt["state"][k]["exp_avg"], v["exp_avg"])
    assert int(second.datamodule.buffer.added.sum()) == int(
        saved["ReplayDataModule"]["replay"]["added"].sum()
    )

    third = _fit(run_cli, "--ckpt_path", str(ckpt), epochs=2)  # and one more epoch trains on
    assert third.trainer.current_epoch == 2
    assert int(third.model.context_replay.added.sum()) > 0


def _adapt(run_cli, ckpt: Path, *extra: str):
    return run_cli(
        "adapt",
        "--config",
        CONF / "point_goal.yaml",
        "--config",
        CONF / "debug.yaml",
        "--ckpt_path",
        str(ckpt),
        "--tasks",
        "0,1",
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    )


def test_adapt_on_a_pearl_checkpoint_writes_pearl_and_pearl_relabel_results(run_cli, tmp_path):
    import json

    from mier_pl.analysis.results import load_results

    fit = _fit(run_cli)
    ckpt = Path(fit.trainer.log_dir) / "checkpoints" / "last.ckpt"
    root = tmp_path / "lightning_logs" / "point-goal"

    _adapt(run_cli, ckpt)
    pearl = load_results(root / "adapt_0")
    assert pearl.method == "pearl" and [t.task for t in pearl.tasks] == [0, 1]
    for t in pearl.tasks:
        assert -200 < t.mier_wr < 0 and t.mier == [] and t.final == t.mier_wr
    assert json.loads((root / "adapt_0" / "results.json").read_text())["method"] == "pearl"
    assert (root / "adapt_0" / "results.csv").is_file()

    _adapt(run_cli, ckpt, "--adapt.method", "relabel", "--adapt.model_steps", "20")
    relabel = load_results(root / "adapt_1")
    assert relabel.method == "pearl_relabel"
    for t in relabel.tasks:
        assert len(t.mier) == 2  # debug.yaml: 2 relabeling epochs, each evaluated
        assert all(-200 < r < 0 for r in [t.mier_wr, *t.mier])
        assert t.val_loss_final <= t.val_loss_context or t.model_fallback


def test_adapt_refuses_relabeling_without_exploration_episodes(run_cli):
    fit = _fit(run_cli, "--model.init_args.pearl.exploration_episodes", "0")
    ckpt = Path(fit.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match="exploration_episodes is 0"):
        _adapt(run_cli, ckpt, "--adapt.method", "relabel")


def test_evaluate_reevaluates_a_pearl_run_with_its_protocol(run_cli):
    from mier_pl.analysis.evaluate import evaluate_run

    fit = _fit(run_cli)
    result = evaluate_run(Path(fit.trainer.log_dir), repeats=2, adapt_steps=None)
    assert result["context_source"] == "pearl" and result["adapt_steps"] is None
    for split in ("train", "test"):
        assert len(result[split]["repeats"]) == 2
        assert -200 < result[split]["mean"] < 0
