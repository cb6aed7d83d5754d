"""``RelabelCallback``: when Algorithm 2 (docs/algorithm.md §6) identifies, evaluates and relabels.

It drives an :class:`~mier_pl.modules.adapt_module.AdaptModule` (duck-typed: callbacks never import
modules) and owns what an interrupted adaptation needs back: the test task's real transitions,
the synthetic FIFO buffer, the identification report, the returns so far and the RNG states.

Schedule, per test task:

- fit start: ``AdaptModule.identify_task`` (A real transitions with φ₀; φ_T̂ from N context
  steps, M model steps), then evaluate: that return is MIER-wR (no relabeling,
  docs/algorithm.md §6 step 6);
- loop step ``k`` of an epoch with ``k % refresh_every == 0``: a new synthetic batch;
- epoch end: evaluate (the MIER return after that relabeling epoch, and the evaluation
  "before" the next one).

The MIER-wR episode and the last epoch's are filmed (``task_<i>/mier_wr.mp4``, ``mier.mp4``)
when the module was given a video directory.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from mier_pl.data.relabel_replay import AdaptConfig, RelabelReplay
from mier_pl.data.rng import device_rng_state, restore_device_rng_state


class RelabelCallback(Callback):
    """Algorithm 2's schedule and resumable state for one test task.

    Args:
        settings: Algorithm 2's settings (the same object the module got).
    """

    def __init__(self, settings: AdaptConfig) -> None:
        self.settings = settings
        self.replay: RelabelReplay | None = None
        self.identified = False
        self.report: dict[str, Any] = {}
        self.returns: list[float] = []  # [MIER-wR, after epoch 1, after epoch 2, ...]
        self.successes: list[float] = []  # the same episodes' success, where reported
        self.refreshes = 0
        self._collector = None
        self._pending: dict[str, Any] | None = None

    # ------------------------------------------------------------ schedule
    def should_refresh(self, batch_idx: int) -> bool:
        """A new synthetic batch at loop steps 0, refresh_every, 2·refresh_every, … of an epoch."""
        return (
            self.replay is not None
            and self.replay.use_synthetic
            and batch_idx % self.settings.refresh_every == 0
        )

    def gate_open(self, val_loss: float) -> bool:
        """The paper's gate: synthetic data only while the validation loss is below the threshold."""
        threshold = self.settings.loss_threshold
        return threshold is None or (math.isfinite(val_loss) and val_loss < threshold)

    @property
    def mier_wr(self) -> float | None:
        return self.returns[0] if self.returns else None

    # --------------------------------------------------------------- hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.replay is None:
            model = pl_module.model
            self.replay = RelabelReplay(
                model.obs_dim,
                model.act_dim,
                self.settings.synthetic_capacity,
                trainer.strategy.root_device,
            )
        self._collector = pl_module.collector
        pl_module.replay = self.replay
        if self._pending is not None:
            self._restore(self._pending)
            self._pending = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.identified:  # resumed: φ_T̂ and the weights came back with the module's state
            return
        real, report = pl_module.identify_task()  # Algorithm 2, steps 1-3
        self.replay.set_real(real)
        self.replay.use_synthetic = self.gate_open(report.val_loss)
        self.report = report.as_plain()
        self.report["gate_open"] = self.replay.use_synthetic
        self.identified = True
        self._record(pl_module, pl_module.evaluate(video="mier_wr"))

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.should_refresh(batch_idx):
            self.replay.add_synthetic(pl_module.synthetic_batch())
            self.refreshes += 1
            pl_module.log("relabel/synthetic_size", float(self.replay.synthetic_size))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        last = trainer.max_epochs is not None and trainer.current_epoch == trainer.max_epochs - 1
        self._record(pl_module, pl_module.evaluate(video="mier" if last else None))

    def _record(self, pl_module: pl.LightningModule, value: float) -> None:
        self.returns.append(value)
        epoch = len(self.returns) - 1
        metrics = {"adapt/return": value, "adapt/relabel_epoch": float(epoch)}
        success = getattr(pl_module, "last_success", None)
        if success is not None:
            self.successes.append(success)
            metrics["adapt/success"] = success
        pl_module.log_at_step(metrics, step=epoch)

    # ---------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain types only (``weights_only=True`` loads it)."""
        return {
            "identified": self.identified,
            "report": dict(self.report),
            "returns": list(self.returns),
            "successes": list(self.successes),
            "refreshes": self.refreshes,
            "replay": self.replay.state_dict() if self.replay is not None else None,
            "torch_rng": torch.get_rng_state(),
            # the policy's noise and replay sampling on a GPU draw from its CUDA generator
            "cuda_rng": device_rng_state(self.replay.device) if self.replay is not None else None,
            "collector": self._collector.state_dict() if self._collector is not None else None,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.replay is None:
            self._pending = state_dict  # restored in setup, once the device is known
        else:
            self._restore(state_dict)

    def _restore(self, state: dict[str, Any]) -> None:
        self.identified = bool(state["identified"])
        self.report = dict(state["report"])
        self.returns = [float(r) for r in state["returns"]]
        self.successes = [float(r) for r in state.get("successes", [])]
        self.refreshes = int(state["refreshes"])
        if state["replay"] is not None:
            self.replay.load_state_dict(state["replay"])
        torch.set_rng_state(state["torch_rng"])
        restore_device_rng_state(state.get("cuda_rng"), self.replay.device)
        if state["collector"] is not None and self._collector is not None:
            self._collector.load_state_dict(state["collector"])
