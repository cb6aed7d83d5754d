"""A cached ``ModelCheckpoint.state_key``: Lightning reads it at every hook call it dispatches to
the callback, and builds it each time as a ``repr`` of five settings. Speed only: the key is
the same string; off: drop :class:`CachedStateKey` from the callback's bases."""

from __future__ import annotations

from pytorch_lightning.callbacks import ModelCheckpoint


class CachedStateKey(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``state_key`` is kept while the settings it is made of stay
    the same."""

    @property
    def state_key(self) -> str:
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
