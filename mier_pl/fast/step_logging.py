"""A training step's scalars straight to Lightning's logger connector, the one private Lightning
call of the step's logging (:func:`mier_pl.modules.common.log_step_metrics` calls it on the
logging steps only). ``self.log`` would also file each value into its result collection on
every step, even on the steps whose values it then drops (its cost: BENCHMARKS.md,
"Measurements behind the code"). Speed only: the rows, their step and ``epoch`` column and
``trainer.logged_metrics`` are what ``self.log_dict`` of a training step (``on_step``, no
``on_epoch``) gives on those steps."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor


def log_now(trainer: pl.Trainer, metrics: dict[str, Tensor]) -> None:
    """Hand ``metrics`` to the Trainer's loggers at the current step (rank 0's write)."""
    trainer._logger_connector.log_metrics(metrics)
