"""``ContextSACModule``: context-conditioned SAC (docs/algorithm.md §5)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from mier_pl.data.algorithm import Policy
from mier_pl.data.batch import TransitionBatch
from mier_pl.fast.acting import ActingSnapshot
from mier_pl.functional import sac_losses as F
from mier_pl.modules.common import as_config, manual_step
from mier_pl.nets.sac_nets import TanhGaussianActor, TwinCritic
from mier_pl.ranges import (
    ClosedUnitInterval,
    PositiveFloat,
    PositiveInt,
    UnitIntervalOpenLeft,
    check_ranges,
)


@dataclass
class SACConfig:
    """SAC settings (docs/algorithm.md §5; defaults are the release's).

    Attributes:
        hidden: hidden layer sizes of actor and critics (300-300-300 for the benchmarks and
            cheetah-vel; 256-256 for the OOD negated-joints, ant-dir and walker families).
        lr: Adam learning rate for Q, π and α (3e-4).
        gamma: discount (0.99).
        tau: target smoothing per update (0.005).
        reward_scale: multiplies rewards in the critic target (1).
        target_entropy: "release" for H̄ = −1, "action_dim" for H̄ = −|A|.
        init_log_alpha: starting log α (0).
        snapshot_acting: collection and evaluation act through
            :class:`~mier_pl.fast.acting.ActingSnapshot` (true; speed only, the same actions up to
            float rounding); false acts with the actor itself (:meth:`ContextSACModule.act`).
    """

    hidden: tuple[PositiveInt, ...] = (300, 300, 300)
    lr: PositiveFloat = 3e-4
    gamma: ClosedUnitInterval = 0.99
    tau: UnitIntervalOpenLeft = 0.005
    reward_scale: float = 1.0
    target_entropy: Literal["release", "action_dim"] = "release"
    init_log_alpha: float = 0.0
    snapshot_acting: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, "model.init_args.sac")


class ContextSACModule(pl.LightningModule):
    """Tanh-Gaussian actor and fused twin critics over (s, φ), with learned α.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        context_dim: size of φ.
        sac: settings.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, context_dim: int, sac: SACConfig | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg = as_config(SACConfig, sac)
        cfg.hidden = tuple(cfg.hidden)
        in_dim = obs_dim + context_dim
        self.obs_dim = obs_dim
        self.actor = TanhGaussianActor(in_dim, act_dim, cfg.hidden)
        self.critic = TwinCritic(in_dim + act_dim, cfg.hidden)
        # Targets start as copies of the critics (the release's fresh random targets are a bug).
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(cfg.init_log_alpha)))
        self.target_entropy = -1.0 if cfg.target_entropy == "release" else -float(act_dim)
        self.automatic_optimization = False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """``[critic, policy]`` Adam optimisers; ``policy`` holds the actor and α as two groups.

        The actor loss uses α detached and the α loss uses log π detached, so one backward of
        their sum writes exactly the gradients two separate backwards would, and Adam is
        elementwise: one optimiser step for both is the same maths as two, for one step's
        overhead. Fused Adam (one kernel per step instead of a loop over parameter tensors)
        is also the same maths (gains: BENCHMARKS.md, "Measurements behind the code").
        MIERModule's ``cuda_graph`` makes both capturable (:func:`mier_pl.fast.cuda_graph.capturable`).
        """
        lr = self.cfg.lr
        critic = torch.optim.Adam(self.critic.parameters(), lr=lr, fused=True)
        groups = [{"params": list(self.actor.parameters())}, {"params": [self.log_alpha]}]
        return [critic, torch.optim.Adam(groups, lr=lr, fused=True)]

    @torch.inference_mode()
    def act(self, obs: Tensor, context: Tensor, deterministic: bool = False) -> Tensor:
        """Actions for ``obs`` (on any device: moved to ``context``'s) on the actor's device."""
        obs = obs.to(context.device, non_blocking=True)
        return self.actor.act(F.with_context(obs, context), deterministic)

    def policy(self, act_on: Literal["device", "cpu"] = "device") -> Policy:
        """The acting policy of a collection phase: an :class:`ActingSnapshot` of the actor.

        The snapshot takes the actor's weights now; call this once per collection phase (the
        weights do not change while collecting). ``"device"`` acts where the actor is;
        ``"cpu"`` acts on a host copy, and each context tensor it is given is copied to the CPU
        once (the same tensor comes with every step of a rollout), so a rollout makes no
        host↔device copy per step: on a GPU, the tiny actor's dozen kernel launches per step
        can cost more than its arithmetic on a CPU.
        """
        if not self.cfg.snapshot_acting:  # the fast path off: the actor itself, where it is
            return self.act
        device = self.log_alpha.device if act_on == "device" else torch.device("cpu")
        return ActingSnapshot(self.actor, self.obs_dim, device)

    def update(
        self,
        batch: TransitionBatch,
        context: Tensor,
        optimizers: Sequence[torch.optim.Optimizer],
        critic_objective: Callable[[Tensor], Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """One SAC update on ``batch`` ``[B]`` with per-sample contexts ``[B, context_dim]``.

        Critic, then actor and α (against the just-updated critic), then the targets.
        ``optimizers``: ``[critic, policy]`` as :meth:`configure_optimizers` makes them (the
        running module's, from ``self.optimizers()``), each stepped by :func:`manual_step`.
        ``critic_objective(critic loss)``: what the critic optimiser steps instead of the critic
        loss (PEARL adds its encoder's KL). The actor and α see the context detached: a context
        that carries gradients (PEARL's z) is trained by the critic's objective only.
        """
        critic_opt, policy_opt = optimizers
        cfg = self.cfg
        c_loss, metrics = F.critic_loss(
            self.critic,
            self.target_critic,
            self.actor,
            self.log_alpha,
            batch,
            context,
            cfg.gamma,
            cfg.reward_scale,
        )
        objective = c_loss if critic_objective is None else critic_objective(c_loss)
        manual_step(self, critic_opt, objective)
        a_loss, log_prob, a_metrics = F.actor_loss(
            self.critic, self.actor, self.log_alpha, batch, context.detach()
        )
        al_loss = F.alpha_loss(self.log_alpha, log_prob, self.target_entropy)
        manual_step(self, policy_opt, a_loss + al_loss)
        F.soft_update(self.target_critic, self.critic, cfg.tau)
        metrics.update(a_metrics)
        metrics["alpha_loss"] = al_loss.detach()
        metrics["alpha"] = self.log_alpha.detach().exp()
        return metrics
