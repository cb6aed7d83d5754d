"""Model identification: the one inner loop shared by meta-training, evaluation and test time.

MIER adapts only the context φ, an input tensor, so the inner loop is plain gradient descent on
a ``[tasks, context_dim]`` matrix (docs/algorithm.md §3). Because each task's loss depends only on its own
row, one ``autograd.grad`` of the summed per-task losses gives every task's gradient at once:
the meta-batch is vectorised with batched tensors, not a loop over tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


def clip_rows(grad: Tensor, max_norm: float) -> Tensor:
    """Scale each row to L2 norm at most ``max_norm`` (``tf.clip_by_norm`` per task).

    Differentiable, so second-order meta-gradients flow through the clipping (docs/algorithm.md §3).
    """
    norm = torch.linalg.vector_norm(grad, dim=-1, keepdim=True)
    return grad * (max_norm / norm.clamp(min=max_norm))


def adapt_context(
    loss_fn: Callable[[Tensor], Tensor],
    context: Tensor,
    lrs: Sequence[float],
    max_grad_norm: float = 10.0,
    create_graph: bool = False,
) -> Tensor:
    """Run ``len(lrs)`` clipped gradient steps on the context: φ ← φ − α_k·clip(∇φ L, max).

    Args:
        loss_fn: maps a context ``[tasks, context_dim]`` to per-task losses ``[tasks]``.
        context: the starting context φ₀, ``[tasks, context_dim]``.
        lrs: one learning rate per step (meta-training: ``[0.01] * 2``; test time: 0.01 for two
            steps, then 0.001, docs/algorithm.md §6).
        max_grad_norm: per-task clip of each context gradient (10).
        create_graph: keep the graph of every step so the outer loss differentiates through
            the inner steps (second-order MAML). ``False`` gives first-order MAML, and is what
            evaluation and test time use.

    Returns:
        The adapted context ``[tasks, context_dim]``; attached to θ's graph iff ``create_graph``
        (and always to φ₀, so a learned φ₀ gets its first-order gradient). Callers that only
        use the value detach it.
    """
    if not context.requires_grad:
        context = context.detach().clone().requires_grad_(True)
    for lr in lrs:
        loss = loss_fn(context)
        (grad,) = torch.autograd.grad(loss.sum(), context, create_graph=create_graph)
        context = context - lr * clip_rows(grad, max_grad_norm)
    return context
