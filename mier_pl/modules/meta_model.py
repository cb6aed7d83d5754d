"""``MetaModelModule``: MAML over the context for the dynamics-and-reward model (docs/algorithm.md §3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from mier_pl.data.algorithm import Adapt, Policy, identify_tasks, random_policy
from mier_pl.data.batch import MetaBatch, TransitionBatch
from mier_pl.data.rollout import Collector
from mier_pl.functional.inner_loop import adapt_context
from mier_pl.functional.probe import Identification, prediction_errors
from mier_pl.modules.base import MetaTrainingModule
from mier_pl.modules.common import (
    CollectConfig,
    EvalConfig,
    FiniteGuard,
    as_config,
    is_logging_step,
    log_step_metrics,
    manual_step,
)
from mier_pl.nets.model import ContextModel
from mier_pl.ranges import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    check_ranges,
)


@dataclass
class DynamicsConfig:
    """The model and its meta-training (docs/algorithm.md §2-3; defaults are the release's).

    Attributes:
        context_dim: size of φ (5; 10 for cheetah-negated-joints).
        hidden: units per hidden layer (200).
        layers: hidden layers (4).
        models: "joint" (one model for reward and state), "separate" (meta-trained reward model
            plus an ordinary state model) or "auto": separate for reward-only families.
        inner_steps: K, context gradient steps in the inner loop (2).
        inner_lr: α, the inner learning rate (0.01).
        inner_grad_clip: per-task L2 clip of each context gradient (10).
        first_order: drop the second-order terms (first-order MAML). Off: the release is
            second-order.
        learn_prior: learn φ₀ (the paper's wording) instead of the release's fixed zeros.
        lr: Adam learning rate of the outer loop (1e-3).
        grad_clip: norm clip of the outer gradient, one global norm over all model parameters
            (10); None: no clip.
        warmup_steps: meta-updates of the model alone on the initial exploration's data,
            after it and before the first epoch (ours; the release: 0). They cost no env
            steps: the first epochs then collect, and SAC trains, with a φ that already tells
            the tasks apart instead of an untrained model's (docs/learning.md).
    """

    context_dim: PositiveInt = 5
    hidden: PositiveInt = 200
    layers: PositiveInt = 4
    models: Literal["auto", "joint", "separate"] = "auto"
    inner_steps: NonNegativeInt = 2
    inner_lr: NonNegativeFloat = 0.01
    inner_grad_clip: PositiveFloat = 10.0
    first_order: bool = False
    learn_prior: bool = False
    lr: PositiveFloat = 1e-3
    grad_clip: PositiveFloat | None = 10.0
    warmup_steps: NonNegativeInt = 0

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.dynamics")


class MetaModelModule(MetaTrainingModule):
    """The context model, its Adam optimiser and the inner-loop settings.

    Inside MIER it is a child of :class:`~mier_pl.modules.mier.MIERModule`, whose training step
    calls :meth:`meta_update` and steps this module's optimiser. On its own (``--model
    mier_pl.modules.MetaModelModule``) it meta-trains on data from a uniform random policy, so
    the model can be studied without SAC.

    Args:
        obs_dim: observation size (linked from the data module).
        act_dim: action size (linked).
        reward_only: whether the family's tasks differ only in reward (linked).
        dynamics: model and meta-training settings.
        collect: collection settings (used when trained on its own).
        eval: evaluation settings (used when trained on its own; a random policy's returns).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        reward_only: bool = False,
        dynamics: DynamicsConfig = DynamicsConfig(),
        collect: CollectConfig = CollectConfig(),
        eval: EvalConfig = EvalConfig(interval=0),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = cfg = as_config(DynamicsConfig, dynamics)
        self.collect_cfg = as_config(CollectConfig, collect)
        self.eval_cfg = as_config(EvalConfig, eval, interval=0)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        separate = cfg.models == "separate" or (cfg.models == "auto" and reward_only)
        self.model = ContextModel(
            obs_dim, act_dim, cfg.context_dim, cfg.hidden, cfg.layers, separate
        )
        prior = torch.zeros(1, cfg.context_dim)
        if cfg.learn_prior:
            self.prior = nn.Parameter(prior)
        else:
            self.register_buffer("prior", prior)
        self.finite_guard = FiniteGuard()  # for model-only fits
        self.automatic_optimization = False

    # ---------------------------------------------------------------- maths
    def adapt(self, batch: TransitionBatch, lrs: list[float] | None = None) -> Tensor:
        """Detached φ_T ``[tasks, context_dim]`` from ``batch`` ``[tasks, N]`` (first order)."""
        lrs = lrs if lrs is not None else [self.cfg.inner_lr] * self.cfg.inner_steps
        with torch.enable_grad():
            context = adapt_context(
                lambda c: self.model.adapt_loss(batch, c),
                self.prior.detach().expand(batch.rew.shape[0], -1),
                lrs,
                self.cfg.inner_grad_clip,
                create_graph=False,
            )
        return context.detach()

    def meta_update(
        self, batch: MetaBatch, diagnostics: bool = True
    ) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """Algorithm 1's model step: adapt φ on the support, score φ_T on the query.

        Returns:
            ``(outer loss, metrics, adapted context [tasks, context_dim] detached)``.
        """
        cfg = self.cfg
        support, query = batch.support, batch.query
        support.check_dims(self.obs_dim, self.act_dim, "meta-batch support")
        query.check_dims(self.obs_dim, self.act_dim, "meta-batch query")
        prior = self.prior.expand(support.rew.shape[0], -1)
        adapted = adapt_context(
            lambda c: self.model.adapt_loss(support, c),
            prior,
            [cfg.inner_lr] * cfg.inner_steps,
            cfg.inner_grad_clip,
            create_graph=not cfg.first_order,
        )
        post = self.model.losses(query, adapted)
        loss = post.total().mean()
        adapted = adapted.detach()
        metrics = {
            "model/outer_loss": loss.detach(),
            "model/post_reward_loss": post.reward.detach().mean(),
            "model/post_state_loss": post.state.detach().mean(),
            "model/context_norm": adapted.norm(dim=-1).mean(),
            "model/context_spread": adapted.std(dim=0).mean()
            if adapted.shape[0] > 1
            else adapted.new_zeros(()),
        }
        if diagnostics:
            with torch.no_grad():
                pre = self.model.losses(query, prior.detach())
            metrics["model/pre_reward_loss"] = pre.reward.mean()
            metrics["model/pre_state_loss"] = pre.state.mean()
            metrics["model/adaptation_gain"] = pre.total().mean() - loss.detach()
        return loss, metrics, adapted

    def identification(
        self,
        collector: Collector,
        tasks: Sequence[Any],
        adapt_steps: int,
        policy: Policy,
        prior_context: Tensor,
    ) -> Identification:
        """The identification diagnostics' view of ``tasks`` (:mod:`mier_pl.modules.diagnostics`):
        φ_T from A = ``adapt_steps`` steps of adaptation data gathered by ``policy`` acting
        with ``prior_context`` (no episode), and this model's errors on V = ⌈A/4⌉ steps that
        follow in the same rollout, held out from the adaptation, at φ_T and at φ₀."""
        found = identify_tasks(
            collector,
            tasks,
            policy,
            prior_context,
            self.adapt,
            adapt_steps,
            held_out_steps=-(-adapt_steps // 4),
        )
        prior = self.prior.detach().expand(len(tasks), -1)
        return Identification(
            found.context,
            prediction_errors(self.model, found.held_out, found.context),
            prediction_errors(self.model, found.held_out, prior),
        )

    # -------------------------------------------------------------- wiring
    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam over the model (and a learned φ₀)."""
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr)

    # ------------------------------------------- standalone (model-only) fit
    def policy(self) -> Policy:
        """Model-only runs collect with a uniform random policy."""
        return random_policy(self.act_dim)

    @property
    def prior_context(self) -> Tensor:
        return self.prior.detach()

    def acting_context(self, tasks: Sequence[Any], collector: Collector) -> Adapt:
        del tasks, collector
        return self.adapt

    def identify_tasks(
        self, collector: Collector, tasks: Sequence[Any], adapt_steps: int
    ) -> Identification:
        return self.identification(
            collector, tasks, adapt_steps, self.adaptation_policy(), self.prior_context
        )

    def training_step(self, batch: MetaBatch, batch_idx: int) -> None:
        loss, metrics, _ = self.meta_update(batch, diagnostics=is_logging_step(self))
        self.finite_guard.record(
            {"model/outer_loss": loss},
            f"epoch {self.current_epoch}, batch {batch_idx}",
            "Check the replay data, or lower --model.dynamics.lr / --model.dynamics.inner_lr.",
        )
        self.finite_guard.check_if_due(self, batch_idx)
        manual_step(self, self.optimizers(), loss, self.cfg.grad_clip)
        log_step_metrics(self, metrics)  # not on the progress bar: it would sync every step
