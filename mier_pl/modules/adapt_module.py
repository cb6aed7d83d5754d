"""``AdaptModule``: Algorithm 2 (experience relabeling, docs/algorithm.md §6) on one test task.

It holds a copy of a meta-trained :class:`~mier_pl.modules.mier.MIERModule`. Algorithm 2 reads
top to bottom in :meth:`AdaptModule.identify_task` (steps 1-3, once) and
:meth:`AdaptModule.training_step` (steps 4-5, each loop step);
:class:`~mier_pl.callbacks.relabel_callback.RelabelCallback` schedules them (when to identify,
relabel and evaluate) and keeps the replay and the returns.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.relabel_replay import AdaptConfig, RelabelReplay
from mier_pl.data.rollout import Collector
from mier_pl.data.video import EpisodeRecorder, log_videos, save_video
from mier_pl.envs.meta_env import describe_task
from mier_pl.fast.hook_dispatch import PlainHookName
from mier_pl.functional import pearl_posterior as P
from mier_pl.functional.adaptation import AdaptationReport, context_lrs, identify
from mier_pl.functional.relabeling import TerminationFn, reward_relabel, rollout_relabel
from mier_pl.modules.common import FiniteGuard, log_step_metrics
from mier_pl.modules.mier import MIERModule
from mier_pl.modules.pearl import PEARLModule
from mier_pl.nets.model import ContextModel


class AdaptModule(PlainHookName, pl.LightningModule):
    """Test-time adaptation of a meta-trained MIER on one test task; manual optimisation.

    Args:
        mier: the meta-trained module (this module trains it in place: pass a copy); a
            :class:`PEARLModule` only through :class:`PEARLRelabelModule`.
        collector: envs of the family (real data and evaluation episodes).
        source: the train tasks' replay from meta-training (what gets relabeled).
        termination_fn: the family's batched termination rule (rollout relabeling).
        task: the test task.
        settings: Algorithm 2's settings.
        reward_only: whether the family's tasks differ only in reward (picks the relabeling
            when ``settings.relabel`` is "auto").
        video_dir: where :meth:`evaluate` writes the videos it is asked for (None: none).
        video_title: their caption's first words, e.g. ``"cheetah-vel test task 3"``.
    """

    mier: MIERModule

    def __init__(
        self,
        mier: MIERModule | PEARLModule,
        collector: Collector,
        source: MultiTaskReplay,
        termination_fn: TerminationFn,
        task: Any,
        settings: AdaptConfig,
        reward_only: bool,
        video_dir: Path | None = None,
        video_title: str = "",
    ) -> None:
        super().__init__()
        self.video_dir, self.video_title = video_dir, video_title
        self.mier = mier
        self.collector, self.source, self.termination_fn = collector, source, termination_fn
        self.task, self.settings = task, settings
        self.relabel_kind = settings.relabel_kind(reward_only)
        # φ_T̂; a buffer so an interrupted adaptation gets it back with the weights.
        self.register_buffer("context", self.initial_context())
        self.replay: RelabelReplay | None = None  # attached by RelabelCallback.setup
        self.finite_guard = FiniteGuard()
        self.last_success: float | None = None  # of the last evaluate(), when reported
        self.automatic_optimization = False

    def initial_context(self) -> Tensor:
        """The context SAC acts with before identification ``[1, dim]``: φ₀."""
        return self.mier.meta.prior.detach().clone().reshape(1, -1)

    @property
    def model(self) -> ContextModel:
        return self.mier.meta.model

    # ------------------------------------------------- Algorithm 2 in order
    def identify_task(self) -> tuple[TransitionBatch, AdaptationReport]:
        """Steps 1-3 of Algorithm 2 (docs/algorithm.md §6), once per test task: the real
        transitions ``[n]`` and the identification's report; φ_T̂ is then in :attr:`context`.
        Step 4's loop is :meth:`training_step`, step 5 :meth:`synthetic_batch`."""
        real = self.collect_real()  # 1. A real transitions with φ₀
        if self.settings.posterior_steps:  # (ours) φ_T̂ of the A steps acts; identify on all
            self.identify_context(real)
            more = self.collect_posterior()
            real = TransitionBatch.cat([real.to(more.obs.device), more])
        return real, self.identify(real)  # 2-3. N context steps, then M model steps

    def collect_real(self) -> TransitionBatch:
        """Step 1: A transitions in the test task with φ₀ and the stochastic policy ``[A]``."""
        prior = self.mier.meta.prior.detach().reshape(1, -1)
        policy = self.mier.adaptation_policy()  # φ₀'s policy, or uniform as in meta-training
        act = lambda obs: policy(obs, prior, False)  # noqa: E731
        return self.collector.rollout(
            [self.task], self.settings.adapt_steps, act, count=False
        ).batch[0]

    def identify_context(self, real: TransitionBatch) -> None:
        """φ_T̂ from the N context steps alone (the weights untouched): what
        :meth:`collect_posterior` acts with."""
        self.context.copy_(self._identify(real, model_steps=0).context)

    def collect_posterior(self) -> TransitionBatch:
        """``posterior_steps`` more transitions in the test task with the identified policy,
        sampled (π(·|s, φ_T̂); PEARL's z) ``[n]``."""
        act = lambda obs: self.relabeling_policy(  # noqa: E731
            obs, self.context.expand(obs.shape[0], -1)
        )
        steps = self.settings.posterior_steps
        return self.collector.rollout([self.task], steps, act, count=False).batch[0]

    def _identify(self, real: TransitionBatch, model_steps: int) -> AdaptationReport:
        s = self.settings
        return identify(
            self.model,
            self.mier.meta.prior,
            real,
            s.context_steps,
            model_steps,
            context_lrs(s.context_steps, s.context_lr, s.late_context_lr, s.fast_context_steps),
            s.model_lr,
            s.val_fraction,
            self.mier.meta.cfg.inner_grad_clip,
            rollback=s.rollback_on_divergence,
        )

    def identify(self, real: TransitionBatch) -> AdaptationReport:
        """Steps 2-3: φ_T̂ from N context steps, then M model steps (with divergence fallback)."""
        report = self._identify(real, self.settings.model_steps)
        self.context.copy_(report.context)
        if report.diverged:
            report.reason += (
                "; fell back to the context-only model (lower --adapt.model_lr or "
                "--adapt.model_steps)"
            )
        self.log_at_step(
            {
                "adapt/val_loss_prior": report.val_loss_prior,
                "adapt/val_loss_context": report.val_loss_context,
            },
            step=0,
        )
        for k, loss in enumerate(report.val_losses, start=1):
            # Clamped so a divergent curve stays plottable; the report keeps the raw value.
            self.log_at_step(
                {"adapt/model_val_loss": loss if math.isfinite(loss) else 1e30}, step=k
            )
        return report

    def evaluate(self, video: str | None = None) -> float:
        """One deterministic episode with φ_T̂ (docs/algorithm.md §6 step 4); the undiscounted return.

        ``video`` ("mier_wr" or "mier"): also film it into ``video_dir/<video>.mp4`` (GIF
        without an mp4 encoder; :mod:`mier_pl.data.video`) and the task's TensorBoard run.
        Families with a success signal leave the episode's success (1.0 or 0.0) in
        :attr:`last_success` (``None`` otherwise).
        """
        act = lambda obs: self.mier.sac.act(obs, self.context, True)  # noqa: E731
        record = {}
        if video is not None and self.video_dir is not None:
            what = (
                "MIER-wR"
                if video == "mier_wr"
                else f"MIER, {self.current_epoch + 1} relabeling epochs"
            )
            e = self.mier.eval_cfg
            record[0] = EpisodeRecorder(
                f"{self.video_title} {what}",
                describe_task(self.task),
                width=e.video_width,
                height=e.video_height,
            )
        value = float(self.collector.run_episodes([self.task], act, record)[0])
        success = self.collector.last_success
        self.last_success = None if success is None else float(success[0])
        clip = record[0].video() if record else None
        if clip is not None:
            save_video(clip, self.video_dir / video)
            loggers = [self.logger] if self.logger is not None else []
            log_videos(loggers, {f"adapt_video/{video}": clip}, self.current_epoch, None)
        return value

    def synthetic_batch(self) -> TransitionBatch:
        """Step 5: relabel ``synthetic_tasks × synthetic_per_task`` train transitions ``[n]``."""
        s = self.settings
        task_ids = torch.randint(self.source.num_tasks, (s.synthetic_tasks,))
        self.source.check_nonempty(task_ids.tolist(), pre_adapt=False)
        source = self.source.sample(task_ids, s.synthetic_per_task).flatten().to(self.device)
        context = self.model_context_for_relabeling
        if self.relabel_kind == "reward":
            return reward_relabel(self.model, source, context)
        return rollout_relabel(
            self.model, self.relabeling_policy, self.termination_fn, source.obs, context
        )

    @property
    def model_context_for_relabeling(self) -> Tensor:
        """The model's context while it relabels: φ_T̂."""
        return self.context

    def relabeling_policy(self, obs: Tensor, ctx: Tensor) -> Tensor:
        """The new actions of relabeled transitions: π(·|s, φ_T̂), sampled."""
        return self.mier.sac.act(obs, ctx, False)

    def log_at_step(self, metrics: dict[str, float], step: int) -> None:
        """Log outside the training loop's hooks (identification, evaluations) at ``step``."""
        if self.logger is not None:
            self.logger.log_metrics(metrics, step=step)

    # -------------------------------------------------------------- wiring
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Fresh ``[critic, policy]`` Adams: the meta-training optimiser state is not reused."""
        return self.mier.sac.configure_optimizers()

    def train_dataloader(self) -> range:
        # One item per loop step; the step samples its batch itself, after RelabelCallback has
        # refreshed the synthetic data for it (a prefetched batch would predate the refresh).
        return range(self.settings.loop_steps)

    def training_step(self, step: int, batch_idx: int) -> None:
        """Step 4 of Algorithm 2, one loop step: ``sac_updates_per_step`` SAC updates, each on
        its own batch of 12 real + 244 synthetic transitions, all labelled with φ_T̂. Step 5
        (a new synthetic batch, :meth:`synthetic_batch`) runs just before, on the loop steps
        RelabelCallback schedules."""
        s = self.settings
        assert self.replay is not None, "AdaptModule needs RelabelCallback (it attaches the replay)"
        batches = self.replay.sample(s.sac_updates_per_step, s.batch_size, s.real_count)
        context = self.context.expand(s.batch_size, -1)
        optimizers = self.optimizers()
        for k in range(s.sac_updates_per_step):
            metrics = self.mier.sac.update(batches[k], context, optimizers)
        self.finite_guard.record(
            {f"sac/{k}": metrics[k] for k in ("critic_loss", "actor_loss", "alpha_loss")},
            f"relabeling epoch {self.current_epoch}, loop step {batch_idx}",
            "Lower --model.sac.lr, or check the synthetic rewards (--adapt.model_steps, --adapt.model_lr).",
        )
        self.finite_guard.check_if_due(self, batch_idx)
        log_step_metrics(self, {f"sac/{k}": v for k, v in metrics.items()})


class PEARLRelabelModule(AdaptModule):
    """Experience relabeling of a meta-trained PEARL policy on one test task (paper §4, last
    paragraph: relabeling "could be used independently of our model identification").

    Real data: PEARL's own exploration episodes (z from the prior, deterministic actions, as
    its evaluation protocol); z is then drawn once from the posterior of their context and
    held fixed, as φ_T̂ is for MIER. A non-context dynamics-and-reward model (the project's
    :class:`ContextModel` with a one-dim context held at zero: no context steps) is fitted
    from scratch on that data with ``adapt.model_steps`` Adam steps, and relabels the train
    replay; SAC continues from PEARL's weights with z fixed. Everything else (the loop, the
    replay mix, evaluation after each epoch, checkpoints) is :class:`AdaptModule`'s.

    Args:
        pearl: the meta-trained :class:`~mier_pl.modules.pearl.PEARLModule` (trained in place:
            pass a copy).
        model_hidden: the model's units per hidden layer (release: 200).
        model_layers: its hidden layers (release: 4).
        adapt_options: passed on to :class:`AdaptModule`.
        The others: as :class:`AdaptModule`.
    """

    mier: PEARLModule

    def __init__(
        self,
        pearl: PEARLModule,
        collector: Collector,
        source: MultiTaskReplay,
        termination_fn: TerminationFn,
        task: Any,
        settings: AdaptConfig,
        reward_only: bool,
        model_hidden: int = 200,
        model_layers: int = 4,
        **adapt_options: Any,
    ) -> None:
        if pearl.pearl_cfg.exploration_episodes == 0:
            raise ValueError(
                "PEARL + relabeling fits its model on PEARL's exploration episodes, and this "
                "checkpoint's pearl.exploration_episodes is 0; meta-train with at least 1"
            )
        super().__init__(
            pearl, collector, source, termination_fn, task, settings, reward_only, **adapt_options
        )
        obs_dim, act_dim = pearl.hparams["obs_dim"], pearl.hparams["act_dim"]
        self.dynamics = ContextModel(
            obs_dim, act_dim, 1, model_hidden, model_layers, separate=reward_only
        )
        self.register_buffer("model_context", torch.zeros(1, 1))

    def initial_context(self) -> Tensor:
        """z, held at the prior mean until the exploration episodes are in."""
        return torch.zeros(1, self.mier.pearl_cfg.latent_dim)

    @property
    def model(self) -> ContextModel:
        return self.dynamics

    def collect_real(self) -> TransitionBatch:
        """PEARL's exploration episodes in the test task ``[episodes · horizon]``; sets z."""
        pearl = self.mier
        policy = pearl.policy()
        gathered = []
        for _ in range(pearl.pearl_cfg.exploration_episodes):
            prior = pearl.prior_context.expand(1, -1)  # a new tensor: a new z from the prior
            act = lambda obs, z=prior: policy(obs, z, True)  # noqa: E731
            gathered.append(
                self.collector.rollout([self.task], self.collector.horizon, act, count=False).batch
            )
        real = TransitionBatch.cat(gathered, dim=1).to(self.device)
        params = pearl.posterior_params(real)
        self.context.copy_(P.sample_latent(*params.chunk(2, dim=-1)))
        return real[0]

    def identify_context(self, real: TransitionBatch) -> None:
        """Nothing: z, what :meth:`collect_posterior` acts with, was set by :meth:`collect_real`."""
        del real

    def identify(self, real: TransitionBatch) -> AdaptationReport:
        """M Adam steps of the fresh non-context model on ``real`` (no context steps)."""
        s = self.settings
        report = identify(
            self.model,
            self.model_context,
            real,
            0,
            s.model_steps,
            [],
            s.model_lr,
            s.val_fraction,
            rollback=s.rollback_on_divergence,
        )
        if report.diverged:
            report.reason += "; the untrained model is used (raise --adapt.model_steps)"
        self.log_at_step({"adapt/val_loss_untrained": report.val_loss_context}, step=0)
        for k, loss in enumerate(report.val_losses, start=1):
            self.log_at_step(
                {"adapt/model_val_loss": loss if math.isfinite(loss) else 1e30}, step=k
            )
        return report

    @property
    def model_context_for_relabeling(self) -> Tensor:
        """The non-context model's placeholder context (zeros)."""
        return self.model_context

    def relabeling_policy(self, obs: Tensor, ctx: Tensor) -> Tensor:
        """New actions from π(·|s, z), z fixed (the model's own context is a placeholder)."""
        del ctx
        return self.mier.sac.act(obs, self.context.expand(obs.shape[0], -1), False)
