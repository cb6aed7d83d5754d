"""SAC networks over (s, φ) (docs/algorithm.md §5): a tanh-Gaussian actor and a fused twin critic."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """ReLU MLP with PyTorch's default ``nn.Linear`` initialisation.

    The ReLUs work in place: a linear layer's backward needs its input, not its output, so
    autograd allows it, and each layer saves one activation-sized allocation.
    """
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), nn.ReLU(inplace=True)]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class TanhGaussianActor(nn.Module):
    """π(a | s, φ): diagonal Gaussian squashed by tanh; log-std clipped to [−20, 2].

    Args:
        in_dim: ``obs_dim + context_dim``.
        act_dim: action size (actions in [−1, 1]).
        hidden: hidden layer sizes.
    """

    def __init__(self, in_dim: int, act_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * act_dim)
        self.act_dim = act_dim

    def _linears(self) -> list[nn.Linear]:
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: Tensor, deterministic: bool = False) -> tuple[Tensor, Tensor]:
        """Return ``(action [B, act_dim], log_prob [B])``.

        The log-prob uses the pre-tanh sample ``u``: log N(u) − Σ log(1 − tanh(u)²), with the
        correction written as 2(log 2 − u − softplus(−2u)) for numerical stability.
        """
        mean, log_std = self.net(x).chunk(2, dim=-1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        if deterministic:
            u, log_density = mean, -log_std
        else:
            # With u = mean + std·ε, (u − mean)/std is ε itself: no division, same gradients.
            eps = torch.randn_like(mean)
            u = mean + log_std.exp() * eps
            log_density = -0.5 * eps.square() - log_std
        squash = 2 * (math.log(2) - u - F.softplus(-2 * u))
        log_prob = (log_density - squash).sum(-1) - HALF_LOG_2PI * self.act_dim
        return torch.tanh(u), log_prob

    def act(self, x: Tensor, deterministic: bool = False) -> Tensor:
        """Actions only: no log-prob, no graph (collection acts through :class:`mier_pl.fast.acting.ActingSnapshot`)."""
        mean, log_std = self.net(x).chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean)
        std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        return torch.tanh(mean + std * torch.randn_like(mean))


class EnsembleLinear(nn.Module):
    """``n`` independent linear layers applied in one batched matmul: ``[n, B, in] → [n, B, out]``."""

    def __init__(self, n: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(n, 1, out_dim))
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default init, member by member
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, detach: bool = False) -> Tensor:
        w, b = (self.weight.detach(), self.bias.detach()) if detach else (self.weight, self.bias)
        if w.shape[-1] == 1:
            # A one-unit output (the Q head) as multiply-and-sum: a batched matrix-vector
            # product through bmm is several times slower on the CPU (BENCHMARKS.md).
            # A view of w as rows [n, 1, in] (not a transpose): its gradient then has the
            # parameter's own strides, as DDP's gradient buckets expect.
            return (x * w.view(w.shape[0], 1, w.shape[1])).sum(-1, keepdim=True) + b
        return torch.baddbmm(b, x, w)


class TwinCritic(nn.Module):
    """Q₁, Q₂(s, a, φ) as one stacked network: both critics in a single forward pass.

    Args:
        in_dim: ``obs_dim + context_dim + act_dim``.
        hidden: hidden layer sizes.
        num_critics: ensemble size (2).
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], num_critics: int = 2) -> None:
        super().__init__()
        dims = [in_dim, *hidden, 1]
        self.layers = nn.ModuleList(
            EnsembleLinear(num_critics, a, b) for a, b in itertools.pairwise(dims)
        )
        self.num_critics = num_critics

    def forward(self, x: Tensor, detach_params: bool = False) -> Tensor:
        """``x`` ``[B, in_dim]`` → Q values ``[num_critics, B]``.

        ``detach_params=True`` evaluates with detached weights: the actor loss then
        backpropagates into the action only, and the critic's ``.grad`` stays untouched.
        """
        h = x.unsqueeze(0).expand(self.num_critics, *x.shape)
        for i, layer in enumerate(self.layers):
            h = layer(h, detach=detach_params)
            if i < len(self.layers) - 1:
                h = F.relu(h, inplace=True)  # as in mlp(): the layer's backward needs its input
        return h.squeeze(-1)
