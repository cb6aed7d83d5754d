"""Identification diagnostics at every evaluation, and offline on a checkpoint.

``diag/...`` beside the returns: can the task be read off the context the policy acts with
(a linear probe, :mod:`mier_pl.functional.probe`), how large that context is, and how well the
adapted model predicts held-out steps. High probe R² with a poor return points at the policy,
a low R² at identification (docs/learning.md, "Identification diagnostics").

The probe steps its own env copies and draws from torch's and NumPy's generators seeded with
:data:`PROBE_SEED` inside a fork, so it leaves the run's random streams, and hence the run,
as they would be without it; and the same weights give the same numbers in training and in
``python -m mier_pl evaluate RUN --probe``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

from mier_pl.data.rollout import Collector
from mier_pl.functional.probe import (
    Identification,
    ModelErrors,
    context_stats,
    probe_scores,
)
from mier_pl.modules.common import spread_indices

if TYPE_CHECKING:  # base imports this module
    from mier_pl.modules.base import MetaTrainingModule

PROBE_FOLDS = 5
"""k of the k-fold cross-validation over the probe's train tasks."""
PROBE_SEED = 0
"""Seed of the probe's env resets and of its actions' noise, the same at every evaluation."""
PROBE_CHUNK = 50
"""Tasks stepped in lockstep at once: bounds the probe's env copies (a Meta-World env is
heavy) while keeping a policy call per step over many tasks."""


@contextlib.contextmanager
def own_random_streams(device: torch.device, seed: int) -> Iterator[None]:
    """Run the block on torch's CPU generator, ``device``'s CUDA one and NumPy's global one
    seeded with ``seed``, and give the run its own states back afterwards."""
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def identification_metrics(
    module: MetaTrainingModule,
    collector: Collector,
    adapt_steps: int,
    probe_tasks: int | None,
) -> dict[str, float]:
    """The ``diag/...`` values of ``module`` on ``collector``'s family.

    ``probe_tasks`` evenly spaced train tasks (``None``: all) and every test task get a context
    from :meth:`MetaTrainingModule.identify_tasks` (A = ``adapt_steps`` steps of adaptation
    data, as evaluation's); env copies of their own (``collector`` gives the family, the
    horizon and the device). Families without a task encoding get no probe, only the rest.
    Values that cannot be computed (a probe on fewer than 3 tasks, targets that do not vary)
    are left out rather than logged as NaN.
    """
    out: dict[str, float] = {}
    contexts, codes = {}, {}
    with own_random_streams(collector.device, PROBE_SEED):
        probe = Collector(
            collector.family, collector.family_seed, PROBE_SEED, collector.device, collector.horizon
        )
        encoded = probe.envs[0].task_encoding_dim > 0
        for split, all_tasks, count in (
            ("train", probe.train_tasks, probe_tasks),
            ("test", probe.test_tasks, None),
        ):
            tasks = [all_tasks[i] for i in spread_indices(len(all_tasks), count)]
            if not tasks:
                continue
            found = _concatenate(
                [
                    module.identify_tasks(probe, tasks[i : i + PROBE_CHUNK], adapt_steps)
                    for i in range(0, len(tasks), PROBE_CHUNK)
                ]
            )
            contexts[split] = found.context
            if encoded:
                codes[split] = probe.encode_tasks(tasks)
            stats = context_stats(found.context)
            out[f"diag/{split}_context_norm"] = stats.norm_mean
            out[f"diag/{split}_context_norm_max"] = stats.norm_max
            out[f"diag/{split}_context_spread"] = stats.spread
            if found.noise is not None:
                out[f"diag/{split}_context_noise"] = float(found.noise.mean())
            for name, errors in (("", found.errors), ("_prior", found.prior_errors)):
                if errors is not None:
                    out[f"diag/{split}_reward_mse{name}"] = float(errors.reward.mean())
                    out[f"diag/{split}_state_mse{name}"] = float(errors.state.mean())
    if encoded and "train" in contexts:
        scores = probe_scores(
            contexts["train"], codes["train"], contexts.get("test"), codes.get("test"), PROBE_FOLDS
        )
        out["diag/probe_r2_train"], out["diag/probe_r2_test"] = scores
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _concatenate(parts: list[Identification]) -> Identification:
    """One :class:`Identification` of the tasks of ``parts``, in order."""
    if len(parts) == 1:
        return parts[0]

    def errors(which: list[ModelErrors | None]) -> ModelErrors | None:
        if which[0] is None:
            return None
        return ModelErrors(*(torch.cat(list(field)) for field in zip(*which)))

    return Identification(
        torch.cat([p.context for p in parts]),
        errors([p.errors for p in parts]),
        errors([p.prior_errors for p in parts]),
        None if parts[0].noise is None else torch.cat([p.noise for p in parts]),
    )
