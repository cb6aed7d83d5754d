"""A resumed run's optimisers keep the learning rates its config gives, not the checkpoint's."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info


class ConfiguredOptimizerSettings(pl.Callback):
    """Reapply the configured optimiser settings after a resume restores the optimisers.

    Lightning restores each optimiser's ``state_dict``, param groups included, so without this
    ``--model.sac.lr 1e-4 --ckpt_path last`` would train on at the checkpoint's rate while the
    run's config records 1e-4. The settings the optimisers were configured with (from this
    config) are noted in ``on_fit_start``, after ``configure_optimizers`` and before the
    restore; in ``on_train_start``, after it, any that the checkpoint changed are set back and
    the change is printed. Adam's moments and step counts stay the checkpoint's. A run that is
    not resumed, or resumed with the same settings, is untouched.
    """

    def __init__(self) -> None:
        self._configured: list[list[dict[str, Any]]] = []

    @staticmethod
    def _settings(optimizer: Any) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in group.items() if k != "params" and isinstance(v, (int, float))}
            for group in optimizer.param_groups
        ]

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._configured = [self._settings(opt) for opt in trainer.optimizers]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        changes = []
        for i, (opt, configured) in enumerate(zip(trainer.optimizers, self._configured)):
            for j, (group, wanted) in enumerate(zip(opt.param_groups, configured)):
                for key, value in wanted.items():
                    if group.get(key) != value:
                        changes.append(f"optimizer {i} group {j} {key} {group[key]} → {value}")
                        group[key] = value
        if changes:
            rank_zero_info(
                "resume: the config's optimiser settings replace the checkpoint's (moments and "
                "step counts kept): " + "; ".join(changes)
            )
