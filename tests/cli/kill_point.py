"""A callback that SIGKILLs its own process at a chosen point (tests/cli/test_kill_resume.py)."""

from __future__ import annotations

import os
import signal
from typing import Literal

import pytorch_lightning as pl


class KillAt(pl.Callback):
    """SIGKILL at epoch ``epoch``: before training batch ``batch`` (``where="batch"``), or while
    the epoch's checkpoint is being built, before it is written (``where="save"``)."""

    def __init__(self, epoch: int, batch: int = 0, where: Literal["batch", "save"] = "batch"):
        self.epoch, self.batch, self.where = epoch, batch, where

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.where == "batch" and (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if self.where == "save" and trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
