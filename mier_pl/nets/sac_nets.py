"""SAC networks over (s, φ) (spec §5): a tanh-Gaussian actor and a fused twin critic."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
HOST_MATMUL_LIMIT = 1 << 19
"""Largest rows × in × out of a layer that :class:`ActingSnapshot` computes in NumPy. NumPy's
OpenBLAS runs small products on one core and larger ones on every core, which for a few rows is
slower than torch and more threads than ``--torch_threads`` asked for: measured here, 5 or 10
rows × 256² (328 000 and 655 000 multiply-adds) ran on one core, 16 × 256² and 8 × 400² (about
10⁶) on two."""
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
        """Actions only: no log-prob, no graph (collection acts through :class:`ActingSnapshot`)."""
        mean, log_std = self.net(x).chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean)
        std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        return torch.tanh(mean + std * torch.randn_like(mean))


class ActingSnapshot:
    """The actor's weights of now, laid out for acting on a few states at a time.

    Lockstep collection calls the actor on 5 rows per step, where the cost is per operation,
    not arithmetic. A snapshot takes the weights once per collection phase (they do not change
    while collecting) and saves per call: the ``nn.Module`` call machinery, the concatenation of
    the context (a rollout gives the same context tensor at every step, so its share of the
    first layer, ``b₁ + W_φ φ``, is computed once per context tensor and becomes that layer's
    bias), and, on the host, torch's dispatch: a call whose every layer has at most
    :data:`HOST_MATMUL_LIMIT` rows × in × out runs in NumPy on the same memory
    (:meth:`_act_host`). Otherwise (and on a device) each layer is an ``addmm`` on a contiguous
    transposed weight (``F.linear`` on ``nn.Linear``'s layout measured 18-19 µs against 13-14 µs
    at 5 × 256 → 256). The actions are those of :meth:`TanhGaussianActor.act` up to float
    rounding (the sums run in another order), with the same noise draw from the same generator.

    Args:
        actor: the actor to copy.
        obs_dim: the observation part of its input (the rest is the context).
        device: where the snapshot computes (the actor's, or ``"cpu"`` to act on the host).
    """

    def __init__(self, actor: TanhGaussianActor, obs_dim: int, device: torch.device | str):
        linears = actor._linears()
        with torch.no_grad():
            first = linears[0].weight.to(device)
            self._w_obs = first[:, :obs_dim].t().contiguous()
            self._w_ctx = first[:, obs_dim:].t().contiguous()
            self._b_first = linears[0].bias.to(device, copy=True)
            self._layers = [
                (layer.bias.to(device, copy=True), layer.weight.to(device).t().contiguous())
                for layer in linears[1:]
            ]
        self.device = self._w_obs.device
        self._held: tuple[Tensor | None, Tensor | None] = (None, None)
        # On the host, calls of few enough rows run in NumPy on the same memory (_act_host).
        host = self.device.type == "cpu"
        weights = [self._w_obs, *(w for _, w in self._layers)]
        self._host_rows = HOST_MATMUL_LIMIT // max(w.numel() for w in weights) if host else 0
        self._np_w_obs = self._w_obs.numpy() if host else None
        self._np_layers = [(b.numpy(), w.numpy()) for b, w in self._layers] if host else []
        self._held_np: np.ndarray | None = None

    def __call__(self, obs: Tensor, context: Tensor, deterministic: bool = False) -> Tensor:
        """Actions ``[B, act_dim]`` on :attr:`device` for ``obs`` and ``context`` (any device)."""
        if torch.is_grad_enabled():
            with torch.no_grad():
                return self._act(obs, context, deterministic)
        return self._act(obs, context, deterministic)

    def _act(self, obs: Tensor, context: Tensor, deterministic: bool) -> Tensor:
        held, bias = self._held
        if held is not context:  # the context's share of the first layer, once per tensor
            ctx = context.to(self.device, self._w_ctx.dtype)
            bias = torch.addmm(self._b_first, ctx, self._w_ctx)
            self._held = (context, bias)
            self._held_np = bias.numpy() if self._host_rows else None
        if obs.shape[0] <= self._host_rows:
            return self._act_host(obs, deterministic)
        x = obs.to(self.device, self._w_obs.dtype, non_blocking=True)
        x = torch.addmm(bias, x, self._w_obs).relu_()
        for b, w in self._layers[:-1]:
            x = torch.addmm(b, x, w).relu_()
        b, w = self._layers[-1]
        mean, log_std = torch.addmm(b, x, w).chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean)
        std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp_()
        return torch.randn_like(mean).mul_(std).add_(mean).tanh_()

    def _act_host(self, obs: Tensor, deterministic: bool) -> Tensor:
        """:meth:`_act` in NumPy, for a snapshot on the CPU and a call of few rows.

        Between MuJoCo steps, torch's per-operation dispatch is most of what a 5-row policy
        call costs: in lockstep collection of cheetah (policy 256², 5 rows) the torch path
        added 110 µs to each lockstep step and this one 62 µs (58 µs and 38 µs called alone).
        The noise is the same draw from torch's generator, so seeding and checkpointed RNG
        state work as before.
        """
        x = obs.to("cpu", self._w_obs.dtype).numpy() @ self._np_w_obs
        x += self._held_np
        np.maximum(x, 0.0, out=x)
        for b, w in self._np_layers[:-1]:
            x = x @ w
            x += b
            np.maximum(x, 0.0, out=x)
        b, w = self._np_layers[-1]
        y = x @ w
        y += b
        half = y.shape[-1] // 2
        mean = y[:, :half]
        if deterministic:
            return torch.from_numpy(np.tanh(mean))
        std = np.exp(np.clip(y[:, half:], LOG_STD_MIN, LOG_STD_MAX))
        noise = torch.randn(mean.shape, dtype=self._w_obs.dtype).numpy()
        return torch.from_numpy(np.tanh(noise * std + mean))


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
            # product through bmm is 4-5x slower on the CPU, forward and backward.
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
