"""The Lightning loop's own cost at small scale: one epoch of a config against the same
module's parts run in a plain Python loop.

``bench_epoch`` (cheetah_neg) compares an epoch with hand-written bare loops of large
networks, which hide per-step overhead. Here the networks are small (point-goal's 64-unit nets,
the debug overlay's 32-unit ones), so what Lightning adds per step (hooks, logging, the
manual-optimisation wrappers, the data fetcher) is a visible fraction. The bare side runs the
very same maths in the same process, after the fit, on the fit's own replay: the epoch's
collection hook, then ``steps`` times a meta-batch drawn by the data module's loader, the
meta-update with a plain backward, clip and Adam step, and the SAC update. What differs is only
the loop around them, so the ratio is the loop's overhead.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback

from benchmarks.common import elapsed, row, short_fit_args
from mier_pl.cli.main import main as cli_main

CONF = Path(__file__).resolve().parents[1] / "conf"


class BareEpochs(Callback):
    """Before each Lightning epoch, runs one bare epoch (:func:`bare_epoch`) of the same
    module and times both, so the two alternate in one process and share the machine's drift.

    A Lightning epoch is the time from the end of one bare epoch to the start of the next:
    the whole loop (collection hook, fetching, training steps, epoch-end hooks), nothing else.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.lightning: list[float] = []
        self.bare: list[float] = []
        self._t: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        now = time.perf_counter()
        if self._t is not None:
            self.lightning.append(now - self._t)
        self.bare.append(bare_epoch(pl_module, trainer.datamodule, self.steps))
        self._t = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.lightning.append(time.perf_counter() - self._t)


def fit_args(config: str, overlays: Sequence[str], epochs: int, steps: int) -> list[str]:
    """``short_fit_args`` with ``overlays`` applied right after the family config."""
    args = short_fit_args(config, epochs, steps)
    for overlay in overlays:
        args[3:3] = ["--config", overlay]
    # The epoch's checkpoint is in bench_epoch's figure; here only the loop is compared.
    return [*args, "--checkpoint.every_n_epochs", str(epochs + 1)]


def bare_epoch(module, dm, steps: int) -> float:
    """Seconds of one epoch of ``module``'s parts in a plain loop (see the module's doc)."""
    # Fresh optimisers of the same kind, groups and settings (fused, capturable, ...).
    model_opt, *sac_opts = [
        type(o)([{"params": g["params"]} for g in o.param_groups], **o.defaults)
        for o in module.configure_optimizers()
    ]
    clip = module.meta.cfg.grad_clip

    def epoch() -> None:
        module.on_train_epoch_start()  # the epoch's collection, as the loop calls it
        loader = dm.train_dataloader()
        loader.steps = steps
        for batch in loader:
            loss, _, adapted = module.meta.meta_update(batch, diagnostics=False)
            model_opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(module.meta.parameters(), clip)
            model_opt.step()
            context = module.training_context(batch, adapted)
            context = context.repeat_interleave(batch.query.rew.shape[1], dim=0)
            module.sac.update(batch.query.flatten(), context, sac_opts)

    # Detached from the Trainer, the SAC update steps with a plain backward (manual_step).
    trainer, module.sac.trainer = module.sac.trainer, None
    try:
        return elapsed(epoch, module.device)
    finally:
        module.sac.trainer = trainer


def bench_loop(
    name: str,
    config: str,
    overlays: Sequence[str],
    steps: int,
    device: torch.device,
    epochs: int = 6,
    extra: Sequence[str] = (),
) -> dict:
    """Lightning epochs of ``config`` (+ ``overlays``; ``steps`` training steps, evaluation
    and checkpoints off) against bare epochs of the same module, alternating (BareEpochs)."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            callback = {"class_path": f"{__name__}.BareEpochs", "init_args": {"steps": steps}}
            args = [
                *fit_args(config, overlays, epochs, steps),
                "--trainer.callbacks+",
                json.dumps(callback),
                *extra,
            ]
            cli = cli_main([*args, "--trainer.accelerator", device.type])
        finally:
            os.chdir(cwd)
    (timer,) = [c for c in cli.trainer.callbacks if isinstance(c, BareEpochs)]
    # The first epoch of each side pays one-off warm-ups; the median of the rest.
    ours, bare = np.median(timer.lightning[1:]), np.median(timer.bare[1:])
    figure = f"Lightning loop {name} ({steps} steps)"
    return row(figure, float(ours), float(bare), "s", "<= 1.15", epochs=len(timer.bare) - 1)


def bench_loops(device: torch.device) -> list[dict]:
    """The small-scale loop figures: point-goal's config and cheetah_neg's debug overlay. The
    debug overlay logs every step (its tests read 4-step epochs); here it logs every 50, as
    runs do, since the figure is the loop's cost, not that of writing 20 scalars a step."""
    return [
        bench_loop("point_goal", str(CONF / "point_goal.yaml"), (), 250, device),
        bench_loop(
            "cheetah_neg + debug",
            str(CONF / "cheetah_neg.yaml"),
            (str(CONF / "debug.yaml"),),
            100,
            device,
            extra=("--trainer.log_every_n_steps", "50"),
        ),
    ]
