"""``MIERModule``: the ``fit`` target that meta-trains MIER (spec §4, Algorithm 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from mier_pl.data.algorithm import Adapt, Policy
from mier_pl.data.batch import MetaBatch
from mier_pl.data.rollout import Collector
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
from mier_pl.modules.meta_model import DynamicsConfig, MetaModelModule
from mier_pl.modules.sac import ContextSACModule, SACConfig, upgrade_optimizer_states


class MIERModule(MetaTrainingModule):
    """Owns the meta-model and the context SAC; manual optimisation, four optimisers.

    Args:
        obs_dim: observation size (linked from the data module).
        act_dim: action size (linked).
        reward_only: whether tasks differ only in reward (linked; picks separate models).
        dynamics: model and meta-training settings.
        sac: SAC settings.
        collect: collection settings.
        eval: evaluation settings.
        context_source: what SAC is conditioned on. "adapted" (MIER): φ_T, adapted from each
            task's data. "oracle": the family's true task encoding (``MetaEnv.encode_task``)
            in training, in the posterior phase of collection and in evaluation (the prior
            phase and exploration still act with zeros, as MIER's with φ₀): the same SAC told
            the task, the upper bound MIER's returns are measured against. The model is still
            meta-trained, so both sides spend the same compute and env steps; its test
            returns are logged as ``eval/test_return_oracle``.
        task_encoding_dim: size of the family's task encoding (linked from the data module).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        reward_only: bool = False,
        dynamics: DynamicsConfig = DynamicsConfig(),
        sac: SACConfig = SACConfig(),
        collect: CollectConfig = CollectConfig(),
        eval: EvalConfig = EvalConfig(),
        context_source: Literal["adapted", "oracle"] = "adapted",
        task_encoding_dim: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        dynamics = as_config(DynamicsConfig, dynamics)
        self.collect_cfg = as_config(CollectConfig, collect)
        self.eval_cfg = as_config(EvalConfig, eval)
        self.context_source = context_source
        self.meta = MetaModelModule(obs_dim, act_dim, reward_only, dynamics)
        sac_context_dim = dynamics.context_dim
        if context_source == "oracle":
            if task_encoding_dim <= 0:
                raise ValueError(
                    "context_source 'oracle' needs the family's task encoding, but this family "
                    "defines none (task_encoding_dim 0); use context_source 'adapted'"
                )
            sac_context_dim = task_encoding_dim
            self.test_return_key = "eval/test_return_oracle"
        self.register_buffer("oracle_prior", torch.zeros(1, sac_context_dim), persistent=False)
        self.sac = ContextSACModule(obs_dim, act_dim, sac_context_dim, sac)
        self.finite_guard = FiniteGuard()
        self.automatic_optimization = False

    @property
    def meta_model(self) -> MetaModelModule:
        return self.meta

    def policy(self) -> Policy:
        return self.sac.policy(self.collect_cfg.act_on)  # once per collection phase

    @property
    def oracle(self) -> bool:
        return self.context_source == "oracle"

    @property
    def prior_context(self) -> Tensor:
        return self.oracle_prior if self.oracle else super().prior_context

    def acting_context(self, tasks: Sequence[Any], collector: Collector) -> Adapt:
        if not self.oracle:
            return super().acting_context(tasks, collector)
        return lambda batch: collector.encode_tasks(tasks)

    def training_context(self, batch: MetaBatch, adapted: Tensor) -> Tensor:
        """SAC's context per task of the meta-batch ``[tasks, dim]``: φ_T (of the support
        batch, or of ``batch.context_support`` when the data module draws one), or the
        oracle's."""
        if not self.oracle:
            if batch.context_support is not None:
                return self.meta.adapt(batch.context_support)
            return adapted
        if getattr(self, "_train_encodings", None) is None:  # once: no host sync per step
            self._train_encodings = self.data.collector.encode_tasks(
                self.data.collector.train_tasks
            )
        return self._train_encodings[batch.task_ids]

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """``[model, critic, policy]`` (``policy``: the actor and α, see ContextSACModule)."""
        return [self.meta.configure_optimizers(), *self.sac.configure_optimizers()]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        if "optimizer_states" in checkpoint:  # [model, critic, ...]: the SAC ones start at 1
            upgrade_optimizer_states(checkpoint["optimizer_states"], first=1)

    def _optimize(self, optimizer: Any, loss: Tensor) -> None:
        manual_step(self, optimizer, loss)

    def training_step(self, batch: MetaBatch, batch_idx: int) -> None:
        model_opt, *sac_opts = self.optimizers()
        where = f"epoch {self.current_epoch}, batch {batch_idx}"
        diagnostics = is_logging_step(self)  # the pre-adaptation losses, only when logged

        # Model identification: adapt φ on each task's support batch (inner loop), then one
        # second-order step of θ on the query batches (outer loop).
        model_loss, metrics, adapted_context = self.meta.meta_update(batch, diagnostics)
        self.finite_guard.record(
            {"model/outer_loss": model_loss},
            where,
            "Lower --model.dynamics.lr or --model.dynamics.inner_lr.",
        )
        self.meta.optimize(self, model_opt, model_loss)

        # SAC on the same query batches, each transition labelled with its task's φ_T. The
        # context is detached: SAC never backpropagates into the model (spec §4.2b).
        sac_batch = batch.query.flatten()
        context = self.training_context(batch, adapted_context)
        context = context.repeat_interleave(batch.query.rew.shape[1], dim=0)
        sac_metrics = self.sac.update(sac_batch, context, sac_opts, self._optimize)
        self.finite_guard.record(
            {f"sac/{k}": sac_metrics[k] for k in ("critic_loss", "actor_loss", "alpha_loss")},
            where,
            "Lower --model.sac.lr or check the rewards' scale (--model.sac.reward_scale).",
        )
        self.finite_guard.check_if_due(self, batch_idx)

        metrics.update({f"sac/{k}": v for k, v in sac_metrics.items()})
        log_step_metrics(self, metrics)
