"""``last.ckpt`` every few epochs: everything a resume needs, replay buffers included."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that always refreshes ``last.ckpt`` every ``every_n_epochs`` epochs.

    Lightning 2.6 writes ``last.ckpt`` only alongside a top-k save, so with the default
    ``save_top_k=0`` (no best-k copies) it would be written only when training ends and a
    crash would lose the whole run. Saves go through the Trainer's
    :class:`~mier_pl.data.checkpoint_io.AtomicCheckpointIO` (a temporary file beside
    ``last.ckpt``, fsynced and renamed over it), so a kill or a full disk during a save leaves
    the previous ``last.ckpt`` intact.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        every = self._every_n_epochs
        if (
            self.save_last
            and every >= 1
            and (trainer.current_epoch + 1) % every == 0
            and self._last_global_step_saved != trainer.global_step
            and not self._should_skip_saving_checkpoint(trainer)
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    @property
    def state_key(self) -> str:
        """Lightning's key, kept while the settings it is made of stay the same: Lightning
        reads it at every hook call it dispatches (a ``repr`` of five settings each time)."""
        settings = (
            self.monitor,
            self.mode,
            self._every_n_train_steps,
            self._every_n_epochs,
            self._train_time_interval,
        )
        cached = self.__dict__.get("_state_key_cache")
        if cached is None or cached[0] != settings:
            cached = (settings, super().state_key)
            self.__dict__["_state_key_cache"] = cached
        return cached[1]
