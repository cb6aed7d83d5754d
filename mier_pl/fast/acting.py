"""The actor's forward pass for a few states at a time: speed only, same actions.

``ActingSnapshot`` replaces :meth:`~mier_pl.nets.sac_nets.TanhGaussianActor.act` in collection
(:meth:`~mier_pl.modules.context_sac.ContextSACModule.policy`). The actions are the actor's up
to float rounding, with the same noise draw from the same generator; turn it off with
``--model.init_args.sac.snapshot_acting false`` (tests/fast/test_switches.py and the snapshot
tests of tests/functional/test_sac_losses.py check that both paths agree). Measured gains:
BENCHMARKS.md ("Measurements behind the code").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mier_pl.nets.sac_nets import LOG_STD_MAX, LOG_STD_MIN, TanhGaussianActor

HOST_MATMUL_LIMIT = 1 << 19
"""Largest rows × in × out of a layer that :class:`ActingSnapshot` computes in NumPy. NumPy's
OpenBLAS runs small products on one core and larger ones on every core, which for a few rows is
slower than torch and more threads than ``--torch_threads`` asked for (where the switch falls:
BENCHMARKS.md, "Measurements behind the code")."""


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
    transposed weight (faster than ``F.linear`` on ``nn.Linear``'s layout; BENCHMARKS.md). The actions are those of :meth:`TanhGaussianActor.act` up to float
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
        call costs (the two paths measured: BENCHMARKS.md, "Measurements behind the code").
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
