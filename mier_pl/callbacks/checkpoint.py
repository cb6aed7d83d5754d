"""``last.ckpt`` every few epochs: everything a resume needs, replay buffers included."""

from __future__ import annotations

import pytorch_lightning as pl

from mier_pl.fast.checkpoint_key import CachedStateKey


class LastCheckpoint(CachedStateKey):
    """``ModelCheckpoint`` that always refreshes ``last.ckpt`` every ``every_n_epochs`` epochs
    (its cached ``state_key``: :mod:`mier_pl.fast.checkpoint_key`).

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
