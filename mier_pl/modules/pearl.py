"""``PEARLModule``: PEARL (Rakelly et al. 2019) as a ``fit`` target on every family.

A context encoder maps each transition to a Gaussian factor over a latent task variable z;
the posterior is their product, SAC acts and learns over (s, z), the critic loss trains the
encoder (the actor loss does not), and a KL term to N(0, I) bottlenecks z. Collection,
replay, logging and checkpoints are the framework's (:class:`MetaTrainingModule`), so PEARL
runs on the same env copies, env steps and evaluation units as MIER. Settings, their source in
katerakelly/oyster and every deviation: docs/pearl.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mier_pl.data.algorithm import Adapt, Policy
from mier_pl.data.batch import TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.rollout import Collector
from mier_pl.functional import pearl_posterior as P
from mier_pl.functional.probe import Identification
from mier_pl.modules.base import MetaTrainingModule
from mier_pl.modules.common import (
    CollectConfig,
    EvalConfig,
    FiniteGuard,
    as_config,
    log_step_metrics,
)
from mier_pl.modules.context_sac import ContextSACModule, SACConfig
from mier_pl.nets.sac_nets import mlp
from mier_pl.ranges import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    check_ranges,
)


@dataclass
class PEARLConfig:
    """PEARL's own settings (defaults: oyster's ``configs/default.py`` and env JSONs).

    Attributes:
        latent_dim: size of z (``latent_size`` 5).
        hidden: the context encoder's hidden layers (``launch_experiment.py``: 200-200-200).
        kl_weight: weight of KL(q(z|c) ‖ N(0, I)) in the encoder's loss (``kl_lambda`` 0.1).
        lr: the encoder's Adam learning rate (``context_lr`` 3e-4).
        context_batch: transitions per task in a training context, and in the context the
            collection's posterior is inferred from (``embedding_batch_size``: 100 in the
            cheetah-vel, walker and humanoid JSONs; the default.py value is 64).
        sac_batch: SAC transitions per task per update (``batch_size`` 256).
        meta_batch: tasks per update, drawn with replacement every update (``meta_batch``
            16; walker-rand-params 10, ant-dir and cheetah-dir 4).
        use_next_obs: encode (s, a, r, s') instead of (s, a, r) (``use_next_obs_in_context``,
            set in oyster's walker and hopper rand-params JSONs). None: when the family's
            tasks differ in dynamics (``reward_only`` false), as those JSONs do.
        exploration_episodes: evaluation's episodes with z from the prior before the
            posterior is inferred from their context (``num_exp_traj_eval``: 2 in the env
            JSONs); the next episode's return is the result.
    """

    latent_dim: PositiveInt = 5
    hidden: tuple[PositiveInt, ...] = (200, 200, 200)
    kl_weight: NonNegativeFloat = 0.1
    lr: PositiveFloat = 3e-4
    context_batch: PositiveInt = 100
    sac_batch: PositiveInt = 256
    meta_batch: PositiveInt = 16
    use_next_obs: bool | None = None
    exploration_episodes: NonNegativeInt = 2

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.pearl")


class ContextTee:
    """Where collection writes while PEARL trains: everything into the RL replay, and the
    prior-phase transitions also into the encoder's replay (oyster's ``enc_replay_buffer``).

    With ``clear``, a task's encoder replay is emptied before its new prior-phase data goes in,
    as oyster clears it before each iteration's collection, so the encoder sees the newest
    policy's data; the initial exploration (``clear`` off) keeps all of it.
    """

    def __init__(self, replay: MultiTaskReplay, context: MultiTaskReplay, clear: bool) -> None:
        self.replay, self.context, self.clear = replay, context, clear

    def add(self, task_ids: Sequence[int], batch: TransitionBatch, pre_adapt: bool) -> None:
        self.replay.add(task_ids, batch, pre_adapt)
        if pre_adapt:
            if self.clear:
                self.context.clear(task_ids)
            self.context.add(task_ids, batch, pre_adapt=False)


class PEARLModule(MetaTrainingModule):
    """The context encoder and the SAC over (s, z); manual optimisation, two optimisers.

    Args:
        obs_dim: observation size (linked from the data module).
        act_dim: action size (linked).
        reward_only: whether tasks differ only in reward (linked; picks ``use_next_obs``).
        pearl: PEARL's settings.
        sac: SAC settings (conf/pearl.yaml sets oyster's reward scale 5).
        collect: collection settings: the same P prior steps (into both replays) and U
            posterior steps (RL replay only) per task as MIER's, z from the prior, then from
            the posterior of a context drawn from the P steps.
        eval: evaluation settings (``adapt_steps`` is MIER's and unused: PEARL's protocol
            explores for ``pearl.exploration_episodes`` episodes instead).
        task_encoding_dim: linked from the data module; unused (PEARL has no oracle mode).

    The acting "context" the collector passes around is the Gaussian's parameters (μ, σ²)
    ``[tasks, 2·latent]`` (the prior: zeros and ones); the policy samples z from them once
    per rollout and acts with it.
    """

    test_return_key = "eval/test_return_pearl"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        reward_only: bool = False,
        pearl: PEARLConfig = PEARLConfig(),
        sac: SACConfig = SACConfig(),
        collect: CollectConfig = CollectConfig(),
        eval: EvalConfig = EvalConfig(),
        task_encoding_dim: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        del task_encoding_dim
        self.pearl_cfg = cfg = as_config(PEARLConfig, pearl)
        cfg.hidden = tuple(cfg.hidden)
        self.collect_cfg = as_config(CollectConfig, collect)
        self.eval_cfg = as_config(EvalConfig, eval)
        self.use_next_obs = (not reward_only) if cfg.use_next_obs is None else cfg.use_next_obs
        in_dim = obs_dim + act_dim + 1 + (obs_dim if self.use_next_obs else 0)
        self.encoder = mlp(in_dim, cfg.hidden, 2 * cfg.latent_dim)
        self.sac = ContextSACModule(obs_dim, act_dim, cfg.latent_dim, sac)
        prior = torch.cat([torch.zeros(1, cfg.latent_dim), torch.ones(1, cfg.latent_dim)], -1)
        self.register_buffer("prior_params", prior, persistent=False)
        self.context_replay: MultiTaskReplay | None = None  # built in setup (needs the device)
        self.finite_guard = FiniteGuard()
        self.automatic_optimization = False

    # ------------------------------------------------------------ inference
    def posterior(self, context: TransitionBatch) -> tuple[Tensor, Tensor]:
        """q(z | c) of each task's context ``[tasks, N]``: mean and variance ``[tasks, latent]``."""
        params = self.encoder(P.context_features(context, self.use_next_obs))
        return P.product_of_gaussians(*P.gaussian_factors(params))

    @torch.no_grad()
    def posterior_params(self, context: TransitionBatch, subsample: int | None = None) -> Tensor:
        """(μ, σ²) ``[tasks, 2·latent]`` of q(z | c); with ``subsample``, of that many of each
        task's transitions drawn with replacement (oyster's ``random_batch``)."""
        if subsample is not None:
            tasks, n = context.rew.shape
            idx = torch.randint(n, (tasks, subsample), device=context.rew.device)
            rows = torch.arange(tasks, device=idx.device).unsqueeze(1)
            context = context.apply(lambda t: t[rows, idx])
        return torch.cat(self.posterior(context), dim=-1)

    @property
    def prior_context(self) -> Tensor:
        return self.prior_params

    def policy(self) -> Policy:
        """SAC's policy with z ~ N(μ, σ²) of the (μ, σ²) it is given, drawn once per new
        context tensor (each rollout passes one): z is fixed within a rollout."""
        act = self.sac.policy(self.collect_cfg.act_on)  # once per collection phase
        held: dict[str, Tensor] = {}

        def pearl_act(obs: Tensor, params: Tensor, deterministic: bool = False) -> Tensor:
            if held.get("from") is not params:
                held.update({"from": params, "z": P.sample_latent(*params.chunk(2, dim=-1))})
            return act(obs, held["z"], deterministic)

        return pearl_act

    def acting_context(self, tasks: Sequence[Any], collector: Collector) -> Adapt:
        """Collection's posterior: from ``context_batch`` of the prior steps just collected,
        which are then the task's whole encoder replay (oyster's ``sample_context``)."""
        del tasks, collector
        return lambda batch: self.posterior_params(batch, self.pearl_cfg.context_batch)

    def evaluate_tasks(
        self, collector: Collector, tasks: Sequence[Any], adapt_steps: int, record: Any = None
    ) -> np.ndarray:
        """PEARL's protocol (oyster's ``collect_paths``): deterministic actions throughout;
        ``exploration_episodes`` episodes with z from the prior (a new z each), accumulating
        their transitions as context; then z from the posterior of all of it, and the return
        of that one more episode ``[tasks]``. ``adapt_steps`` is unused; ``record`` (the base's
        episode recorders, where the base films its evaluation) is not filmed here."""
        del adapt_steps, record
        policy = self.policy()
        params = self.explore_posterior(collector, tasks, policy)
        return collector.run_episodes(tasks, lambda obs: policy(obs, params, True))

    def explore_posterior(
        self, collector: Collector, tasks: Sequence[Any], policy: Policy
    ) -> Tensor:
        """Evaluation's posterior (μ, σ²) ``[tasks, 2·latent]``: ``exploration_episodes``
        deterministic episodes of ``policy`` with z from the prior (a new z each), their
        transitions the context; the prior itself without exploration episodes."""
        gathered: list[TransitionBatch] = []
        for _ in range(self.pearl_cfg.exploration_episodes):
            prior = self.prior_params.expand(len(tasks), -1)  # a new tensor: a new z
            data = collector.rollout(
                tasks, collector.horizon, lambda obs, z=prior: policy(obs, z, True), count=False
            )
            gathered.append(data.batch.to(self.device))
        if gathered:
            return self.posterior_params(TransitionBatch.cat(gathered, dim=1))
        return self.prior_params.expand(len(tasks), -1)

    def identify_tasks(
        self, collector: Collector, tasks: Sequence[Any], adapt_steps: int
    ) -> Identification:
        """The diagnostics' view of ``tasks``: z's posterior mean as evaluation infers it
        (:meth:`explore_posterior`) and its σ, the noise the policy's sampled z carries; PEARL
        has no model, so no model errors."""
        del adapt_steps
        mean, var = self.explore_posterior(collector, tasks, self.policy()).chunk(2, dim=-1)
        return Identification(mean, noise=var.sqrt())

    # ---------------------------------------------------------- collection
    def setup(self, stage: str) -> None:
        dm = self.data
        dm.meta_batches = False  # training_step draws its own batches (oyster's sampling)
        if self.context_replay is None:
            self.context_replay = MultiTaskReplay(
                dm.num_train_tasks, dm.obs_dim, dm.act_dim, dm.capacity, dm.buffer.device
            )

    def collection_replay(self, initial: bool) -> ContextTee:
        assert self.context_replay is not None, "PEARLModule.setup has not run"
        return ContextTee(self.data.buffer, self.context_replay, clear=not initial)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.context_replay.check_nonempty(range(self.data.num_train_tasks), pre_adapt=False)

    # ------------------------------------------------------------ training
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """``[critic and encoder, policy]``: the critic's loss is the encoder's (with the KL
        term), so one Adam steps both, the encoder as its own group with its own lr (Adam is
        elementwise: the same maths as oyster's two optimisers). ``policy``: actor and α."""
        critic, policy = self.sac.configure_optimizers()
        critic.add_param_group({"params": list(self.encoder.parameters()), "lr": self.pearl_cfg.lr})
        return [critic, policy]

    def update(
        self,
        context: TransitionBatch,
        batch: TransitionBatch,
        optimizers: Sequence[torch.optim.Optimizer],
    ) -> dict[str, Tensor]:
        """One PEARL update: z per task from its ``context`` ``[tasks, C]``, then SAC on
        ``batch`` ``[tasks, B]`` with each transition labelled with its task's z.

        The critic loss (oyster's scale: the sum of the two critics' MSEs, twice ours) plus
        ``kl_weight`` × KL steps the critics and the encoder; the actor and α see z detached,
        so the actor loss writes no encoder gradient (oyster's ``_take_step``).
        """
        mean, var = self.posterior(context)
        z = P.sample_latent(mean, var)
        kl = P.kl_to_standard_normal(mean, var)
        metrics = self.sac.update(
            batch.flatten(),
            z.repeat_interleave(batch.rew.shape[1], dim=0),
            optimizers,
            critic_objective=lambda loss: 2.0 * loss + self.pearl_cfg.kl_weight * kl,
        )
        metrics.update(
            kl=kl.detach(),
            z_var=var.detach().mean(),
            z_mean_abs=mean.detach().abs().mean(),
        )
        return metrics

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        """One update on ``meta_batch`` tasks drawn afresh (with replacement, as oyster's
        ``np.random.choice``): ``context_batch`` transitions each from the encoder replay and
        ``sac_batch`` from the RL replay. ``batch`` is the loader's epoch task ids, unused:
        ``setup`` tells the data module to sample no meta-batch."""
        del batch
        cfg, replay = self.pearl_cfg, self.data.buffer
        task_ids = torch.randint(self.data.num_train_tasks, (cfg.meta_batch,), device=replay.device)
        context = self.context_replay.sample(task_ids, cfg.context_batch)
        sac_batch = replay.sample(task_ids, cfg.sac_batch)
        metrics = self.update(context, sac_batch, self.optimizers())
        self.finite_guard.record(
            {f"sac/{k}": metrics[k] for k in ("critic_loss", "actor_loss", "alpha_loss", "kl")},
            f"epoch {self.current_epoch}, batch {batch_idx}",
            "Lower --model.sac.lr or --model.pearl.lr, or check the rewards' scale "
            "(--model.sac.reward_scale).",
        )
        self.finite_guard.check_if_due(self, batch_idx)
        log_step_metrics(
            self,
            {
                f"pearl/{k}" if k in ("kl", "z_var", "z_mean_abs") else f"sac/{k}": v
                for k, v in metrics.items()
            },
        )

    # ----------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.context_replay is not None:
            checkpoint["pearl"] = {"context_replay": self.context_replay.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get("pearl")
        if saved is not None and self.context_replay is not None:
            self.context_replay.load_state_dict(saved["context_replay"])
