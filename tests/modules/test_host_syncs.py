"""Training steps never wait for the device except on Lightning's logging steps.

A host sync (``.item()``, ``bool(t)``, a data-dependent shape, a device→host copy) stalls a GPU
step until every queued kernel has run. Counted here on the CPU with a ``TorchDispatchMode``
(tests/modules/sync_counter.py) over a whole ``fit`` with production logging
(``log_every_n_steps`` 50, the progress bar on): each sync is charged to the training step
during which it happened.
"""

from __future__ import annotations

import pytest

from tests.conftest import CONF
from tests.modules.sync_counter import SyncCounter, count_syncs_in_fit


@pytest.mark.parametrize("overlay", [None, "model_only.yaml"])
def test_training_steps_sync_only_when_lightning_logs(run_cli, monkeypatch, overlay):
    """60 steps per epoch, 2 epochs: Lightning logs after batches 49 and 99 counted across
    epochs (epoch 0's 49, epoch 1's 39) and the FiniteGuard checks on those and on each
    epoch's last step; every other step makes no sync (the model-only fit used to put its loss
    on the progress bar: a sync in every step)."""
    counter = SyncCounter()
    count_syncs_in_fit(monkeypatch, counter)
    configs = ["--config", CONF / "point_rotated.yaml", "--config", CONF / "debug.yaml"]
    if overlay:
        configs += ["--config", CONF / overlay]
    with counter:
        run_cli(
            "fit",
            *configs,
            "--trainer.max_epochs",
            "2",
            "--trainer.log_every_n_steps",
            "50",
            "--data.steps_per_epoch",
            "60",
            "--model.init_args.eval.interval",
            "0",
        )
    allowed = {(0, 49), (0, 59), (1, 39), (1, 59)}
    unexpected = {step: calls for step, calls in counter.syncs.items() if step not in allowed}
    assert not unexpected, unexpected
    # The counter sees syncs: Lightning's conversion of the logged metrics, the guard's check.
    assert counter.syncs[(0, 49)] and counter.syncs[(1, 39)]
