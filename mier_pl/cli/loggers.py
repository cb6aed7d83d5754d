"""TensorBoard with a CSV copy of every metric in the same run directory; W&B; both also
plot the evaluation returns against environment steps, the x-axis RL results are read on."""

from __future__ import annotations

import csv
from typing import Any

# Private API, not a speed path: Lightning's CSV writer, subclassed to append on resume.
from lightning_fabric.loggers.csv_logs import _ExperimentWriter
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

ENV_STEPS = "progress/env_steps"
# Logged in the same epoch-end call as ENV_STEPS (modules/base.py), so each has its env-step count.
BY_ENV_STEPS = ("eval/", "diag/", "train/episode_return")


class _CSVWriter(_ExperimentWriter):
    """Appends to an existing ``metrics.csv`` (a resumed run) instead of deleting it."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))

    def _check_log_dir_exists(self) -> None:
        """The directory is TensorBoard's and may hold a resumed run's files: keep them."""


class TensorBoardCSVLogger(TensorBoardLogger):
    """A ``TensorBoardLogger`` that also writes ``metrics.csv`` beside its event files.

    One logger, one run directory (``lightning_logs/<name>/version_<n>/``): TensorBoard for
    watching, CSV for scripts and notebooks. Arguments are ``TensorBoardLogger``'s, except that
    ``save_dir=None`` means ``lightning_logs`` (under the CLI: ``<trainer.default_root_dir>/
    lightning_logs``, where Lightning's own default logger writes).
    """

    def __init__(
        self, save_dir: str | None = None, name: str | None = "mier", **kwargs: Any
    ) -> None:
        super().__init__(save_dir=save_dir or "lightning_logs", name=name, **kwargs)
        self._csv: _ExperimentWriter | None = None

    @property
    def csv(self) -> _ExperimentWriter:
        if self._csv is None:
            self._csv = _CSVWriter(self.log_dir)
        return self._csv

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        super().log_metrics(metrics, step)
        self.csv.log_metrics(metrics, step)
        # TensorBoard's x-axis is the optimiser step; the same returns again under
        # by_env_steps/..., keyed by environment steps (CSV has progress/env_steps as a column).
        if ENV_STEPS in metrics:
            returns = {
                f"by_env_steps/{k}": v for k, v in metrics.items() if k.startswith(BY_ENV_STEPS)
            }
            if returns:
                super().log_metrics(returns, step=int(metrics[ENV_STEPS]))

    @rank_zero_only
    def save(self) -> None:
        super().save()
        if self._csv is not None:
            self._csv.save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._csv is not None:
            self._csv.save()
        super().finalize(status)


class WandbLogger(_LightningWandbLogger):
    """Lightning's ``WandbLogger`` with an install hint naming our extra when wandb is missing.

    ``WANDB_MODE=offline`` (or ``offline: true``) runs with no network and no account.
    """

    def __init__(self, **kwargs: Any) -> None:
        try:
            import wandb  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "the W&B logger needs the wandb package: pip install 'mier-pl[wandb]' "
                "(or drop --config conf/logger/wandb.yaml)"
            ) from err
        super().__init__(**kwargs)
        self._env_steps_axis = False

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The run, with the evaluation returns plotted against ``progress/env_steps``."""
        run = super().experiment
        if not self._env_steps_axis and callable(getattr(run, "define_metric", None)):
            run.define_metric(ENV_STEPS)
            for prefix in BY_ENV_STEPS:
                run.define_metric(
                    prefix + ("*" if prefix.endswith("/") else ""), step_metric=ENV_STEPS
                )
            self._env_steps_axis = True
        return run
