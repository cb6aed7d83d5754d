"""The context-conditioned dynamics-and-reward model p̂(s', r | s, a; θ, φ) (docs/algorithm.md §2).

Plain ``nn.Module``s. Every method takes task-batched tensors ``[tasks, N, ·]`` and a context
``[tasks, context_dim]`` and returns per-task values ``[tasks]``, so the inner loop adapts all
tasks of a meta-batch in one pass: each task's loss depends only on its own context row, hence
the gradient of the summed loss w.r.t. the context matrix is the stack of per-task gradients.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mier_pl.data.batch import TransitionBatch


class ModelLosses(NamedTuple):
    """Per-task losses ``[tasks]``: the reward part, the state part, and the one adapted.

    ``adapt`` is what the inner loop descends: reward + state for the joint model, the reward
    part alone in separate-models mode (docs/algorithm.md §2).
    """

    reward: Tensor
    state: Tensor

    def total(self) -> Tensor:
        return self.reward + self.state


class GaussianMLP(nn.Module):
    """MLP → (mean, log-variance) with learned soft log-variance bounds (release).

    Args:
        in_dim: input features.
        out_dim: target dims (the Gaussian's dimension).
        hidden: units per hidden layer (200).
        layers: hidden layers (4).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 200, layers: int = 4) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.body = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.head = nn.Linear(dims[-1], 2 * out_dim)
        for layer in [*self.body, self.head]:
            nn.init.xavier_uniform_(layer.weight)  # Glorot uniform, zero biases (release)
            nn.init.zeros_(layer.bias)
        self.out_dim = out_dim
        self.max_logvar = nn.Parameter(torch.full((out_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((out_dim,), -10.0))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for layer in self.body:
            x = F.leaky_relu(layer(x), 0.2)
        mean, logvar = self.head(x).split(self.out_dim, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def nll(self, mean: Tensor, logvar: Tensor, target: Tensor) -> Tensor:
        """Spec §2 loss per task: means over samples and dims, plus the bound penalty.

        Shapes: ``mean``, ``logvar``, ``target`` ``[tasks, N, out_dim]`` → ``[tasks]``.
        """
        fit = ((mean - target) ** 2 * torch.exp(-logvar)).mean(dim=(-2, -1))
        return (
            fit + logvar.mean(dim=(-2, -1)) + 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())
        )

    def sample(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean, logvar = self(x)
        noise = torch.randn(mean.shape, device=mean.device, dtype=mean.dtype, generator=generator)
        return mean + torch.exp(0.5 * logvar) * noise


def _with_context(obs: Tensor, act: Tensor, context: Tensor) -> Tensor:
    """``[tasks, N, ·]`` inputs with the task's context row broadcast to every sample."""
    ctx = context.unsqueeze(-2).expand(*obs.shape[:-1], context.shape[-1])
    return torch.cat([obs, act, ctx], dim=-1)


class ContextModel(nn.Module):
    """p̂(s', r | s, a; θ, φ): targets ``[r, s' − s]`` (reward first), Gaussian, no normaliser.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        context_dim: size of φ (5; 10 for cheetah-negated-joints).
        hidden: units per hidden layer (release: 200).
        layers: hidden layers (release: 4).
        separate: "separate models" mode (release, reward-only families): a context-conditioned
            reward model that alone is meta-trained and adapted, plus a state model over (s, a)
            trained ordinarily (equivalently at φ = 0). Otherwise one joint network whose reward
            and state parts share the body.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        context_dim: int,
        hidden: int = 200,
        layers: int = 4,
        separate: bool = False,
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.context_dim = obs_dim, act_dim, context_dim
        self.separate = separate
        if separate:
            self.reward_net = GaussianMLP(obs_dim + act_dim + context_dim, 1, hidden, layers)
            self.state_net = GaussianMLP(obs_dim + act_dim, obs_dim, hidden, layers)
        else:
            self.net = GaussianMLP(obs_dim + act_dim + context_dim, 1 + obs_dim, hidden, layers)
            # Separate bound vectors for the reward and the state part (docs/algorithm.md §2) are the two
            # slices of the net's bound vectors; the loss treats the parts separately.

    # --------------------------------------------------------------- losses
    def losses(self, batch: TransitionBatch, context: Tensor, state: bool = True) -> ModelLosses:
        """Per-task reward and state losses of ``batch`` ``[tasks, N]`` under ``context``.

        ``state=False`` skips the state part in separate mode, where it does not depend on φ
        (the inner loop never needs it); the returned state loss is then zeros.
        """
        reward_target = batch.rew.unsqueeze(-1)
        state_target = batch.next_obs - batch.obs
        x = _with_context(batch.obs, batch.act, context)
        if self.separate:
            mean, logvar = self.reward_net(x)
            reward = self.reward_net.nll(mean, logvar, reward_target)
            if not state:
                return ModelLosses(reward, torch.zeros_like(reward))
            s_mean, s_logvar = self.state_net(torch.cat([batch.obs, batch.act], dim=-1))
            return ModelLosses(reward, self.state_net.nll(s_mean, s_logvar, state_target))
        mean, logvar = self.net(x)
        net = self.net
        fit = (mean - torch.cat([reward_target, state_target], dim=-1)) ** 2 * torch.exp(-logvar)
        # Reward dim 0, state dims 1:, each mean-reduced on its own so they weigh equally.
        reward = (
            fit[..., :1].mean(dim=(-2, -1))
            + logvar[..., :1].mean(dim=(-2, -1))
            + 0.01 * (net.max_logvar[:1].sum() - net.min_logvar[:1].sum())
        )
        state_loss = (
            fit[..., 1:].mean(dim=(-2, -1))
            + logvar[..., 1:].mean(dim=(-2, -1))
            + 0.01 * (net.max_logvar[1:].sum() - net.min_logvar[1:].sum())
        )
        return ModelLosses(reward, state_loss)

    def adapt_loss(self, batch: TransitionBatch, context: Tensor) -> Tensor:
        """The per-task loss the inner loop descends (``[tasks]``)."""
        losses = self.losses(batch, context, state=not self.separate)
        return losses.reward if self.separate else losses.total()

    # ------------------------------------------------------------- sampling
    def predict(
        self, obs: Tensor, act: Tensor, context: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Sample ``(reward [tasks, N], next_obs [tasks, N, obs_dim])`` from the model."""
        x = _with_context(obs, act, context)
        if self.separate:
            reward = self.reward_net.sample(x, generator)[..., 0]
            delta = self.state_net.sample(torch.cat([obs, act], dim=-1), generator)
            return reward, obs + delta
        out = self.net.sample(x, generator)
        return out[..., 0], obs + out[..., 1:]

    def predict_mean(self, obs: Tensor, act: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        """The Gaussians' means: ``(reward [tasks, N], next_obs [tasks, N, obs_dim])``."""
        x = _with_context(obs, act, context)
        if self.separate:
            reward = self.reward_net(x)[0][..., 0]
            return reward, obs + self.state_net(torch.cat([obs, act], dim=-1))[0]
        mean = self.net(x)[0]
        return mean[..., 0], obs + mean[..., 1:]

    def sample_reward(
        self, obs: Tensor, act: Tensor, context: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Sample only the reward ``[tasks, N]`` (reward relabeling)."""
        x = _with_context(obs, act, context)
        if self.separate:
            return self.reward_net.sample(x, generator)[..., 0]
        return self.net.sample(x, generator)[..., 0]
