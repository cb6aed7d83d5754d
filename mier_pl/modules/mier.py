"""``MIERModule``: the ``fit`` target that meta-trains MIER (docs/algorithm.md §4, Algorithm 1)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from mier_pl.data.algorithm import Adapt, Policy
from mier_pl.data.batch import MetaBatch
from mier_pl.data.rollout import Collector
from mier_pl.fast.cuda_graph import (
    GraphedStep,
    GraphStepUnsupported,
    capturable,
    count_optimizer_steps,
    graph_step_problem,
    states_to_param_devices_,
)
from mier_pl.functional.probe import Identification
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
from mier_pl.modules.context_sac import ContextSACModule, SACConfig
from mier_pl.modules.meta_model import DynamicsConfig, MetaModelModule

MODEL_HINT = "Lower --model.dynamics.lr or --model.dynamics.inner_lr."
SAC_HINT = "Lower --model.sac.lr or check the rewards' scale (--model.sac.reward_scale)."


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
        cuda_graph: capture the training step (model meta-update and SAC update) once as a
            CUDA graph and replay it every step, instead of launching its ~800 kernels one by
            one (docs/scaling.md, "One GPU"). The same maths, with fused capturable Adams; one
            CUDA device, ``32-true`` precision only: refused at setup otherwise, naming the
            fix. Off by default.
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
        cuda_graph: bool = False,
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
        self.cuda_graph = cuda_graph
        self._graph: GraphedStep | None = None
        self.automatic_optimization = False

    def policy(self) -> Policy:
        return self.sac.policy(self.collect_cfg.act_on)  # once per collection phase

    @property
    def oracle(self) -> bool:
        return self.context_source == "oracle"

    @property
    def prior_context(self) -> Tensor:
        return self.oracle_prior if self.oracle else self.meta.prior.detach()

    def acting_context(self, tasks: Sequence[Any], collector: Collector) -> Adapt:
        if not self.oracle:
            return self.meta.adapt
        return lambda batch: collector.encode_tasks(tasks)

    def identify_tasks(
        self, collector: Collector, tasks: Sequence[Any], adapt_steps: int
    ) -> Identification:
        return self.meta.identification(
            collector, tasks, adapt_steps, self.adaptation_policy(), self.prior_context
        )

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
        optimizers = [self.meta.configure_optimizers(), *self.sac.configure_optimizers()]
        if self.cuda_graph:  # step counts on the device: graph-safe steps
            optimizers = [capturable(optimizer) for optimizer in optimizers]
        return optimizers

    def after_initial_exploration(self) -> None:
        """``dynamics.warmup_steps`` meta-updates of the model alone, on meta-batches of the
        exploration's data drawn as in training (a new task draw every ``steps_per_epoch``)."""
        remaining = self.meta.cfg.warmup_steps
        if remaining == 0:
            return
        t0, model_opt, dm = time.perf_counter(), self.optimizers()[0], self.data
        while remaining > 0:
            loader = dm.train_dataloader()
            loader.steps = min(remaining, loader.steps)
            for i, batch in enumerate(loader):
                loss, _, _ = self.meta.meta_update(batch.to(self.device), diagnostics=False)
                where = f"model warm-up, step {self.meta.cfg.warmup_steps - remaining + i}"
                self.finite_guard.record({"model/outer_loss": loss}, where, MODEL_HINT)
                manual_step(self.meta, model_opt, loss, self.meta.cfg.grad_clip)
            remaining -= loader.steps
            self.finite_guard.check(self.trainer)
        self.print(
            f"model warm-up: {self.meta.cfg.warmup_steps} meta-updates in "
            f"{time.perf_counter() - t0:.1f}s"
        )

    def training_step(self, batch: MetaBatch, batch_idx: int) -> None:
        if self.cuda_graph:
            metrics = self._graphed_update(batch)
        else:  # the pre-adaptation losses only when logged
            metrics = self.update(batch, self.optimizers(), is_logging_step(self))
        self.finite_guard.label(f"epoch {self.current_epoch}, batch {batch_idx}")
        self.finite_guard.check_if_due(self, batch_idx)
        log_step_metrics(self, metrics)

    def update(
        self, batch: MetaBatch, optimizers: Sequence[Any], diagnostics: bool
    ) -> dict[str, Tensor]:
        """Algorithm 1's training step: one model meta-update, then one SAC update on the same
        query batches. No host sync and no branch on a tensor value, so the graph step
        (``cuda_graph``) captures exactly this; ``optimizers``: ``[model, critic, policy]``.
        Returns the step's metrics (scalars)."""
        model_opt, *sac_opts = optimizers

        # Model identification: adapt φ on each task's support batch (inner loop), then one
        # second-order step of θ on the query batches (outer loop).
        model_loss, metrics, adapted_context = self.meta.meta_update(batch, diagnostics)
        self.finite_guard.record_values({"model/outer_loss": model_loss}, MODEL_HINT)
        manual_step(self.meta, model_opt, model_loss, self.meta.cfg.grad_clip)

        # SAC on the same query batches, each transition labelled with its task's φ_T. The
        # context is detached: SAC never backpropagates into the model (docs/algorithm.md §4.2b).
        sac_batch = batch.query.flatten()
        context = self.training_context(batch, adapted_context)
        context = context.repeat_interleave(batch.query.rew.shape[1], dim=0)
        sac_metrics = self.sac.update(sac_batch, context, sac_opts)
        self.finite_guard.record_values(
            {f"sac/{k}": sac_metrics[k] for k in ("critic_loss", "actor_loss", "alpha_loss")},
            SAC_HINT,
        )
        metrics.update({f"sac/{k}": v for k, v in sac_metrics.items()})
        return metrics

    # ------------------------------------------------------------ cuda_graph
    def setup(self, stage: str) -> None:
        if self.cuda_graph and stage == "fit":
            trainer = self.trainer
            problem = graph_step_problem(
                trainer.strategy.root_device.type, str(trainer.precision), trainer.world_size
            )
            if problem:
                raise GraphStepUnsupported(problem)

    def _graphed_update(self, batch: MetaBatch) -> dict[str, Tensor]:
        """:meth:`update` as one captured CUDA graph, replayed per step (mier_pl/fast/cuda_graph.py).

        The pre-adaptation diagnostics are computed in every step (a branch on the logging
        step would change the graph); logging still reads them on logging steps only.
        """
        optimizers = self.optimizers()
        if self._graph is None:  # after a resume restored the optimisers (and their settings)
            for optimizer in optimizers:
                states_to_param_devices_(optimizer.optimizer)
            self._graph = GraphedStep(
                lambda static: self.update(static, optimizers, diagnostics=True), capture=True
            )
        metrics, replayed = self._graph(batch)
        if replayed:  # the replay ran no Python: count its three optimiser steps for Lightning
            count_optimizer_steps(optimizers)
        return metrics
