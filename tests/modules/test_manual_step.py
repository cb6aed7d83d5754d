"""``manual_step``'s global-norm clip under mixed precision (mier_pl/modules/common.py).

Lightning turns ``16-mixed`` on a CPU into ``bf16-mixed`` (no loss scaling), so these tests
pass the ``16-mixed`` plugin with a CPU GradScaler explicitly: the loss scaling, the unscale
inside ``optimizer.step()`` and the hook order are those of a CUDA run.
"""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision

from mier_pl.modules.common import clip_pending_gradients, manual_step
from tests.conftest import CONF

SCALE = 16384.0


class _Linear(pl.LightningModule):
    """loss = w·c: the gradient is exactly ``c``; SGD with lr 1 moves w by −clip(c)."""

    def __init__(self, c: torch.Tensor, clip: float | None, hook: bool = True) -> None:
        super().__init__()
        self.c, self.clip, self.hook = c, clip, hook
        self.w = torch.nn.Parameter(torch.zeros_like(c))
        self.automatic_optimization = False

    def configure_optimizers(self):
        return torch.optim.SGD([self.w], lr=1.0)

    def train_dataloader(self):
        return [0]

    def training_step(self, batch, batch_idx):
        manual_step(self, self.optimizers(), (self.w * self.c).sum(), self.clip)

    def on_before_optimizer_step(self, optimizer) -> None:
        if self.hook:
            clip_pending_gradients(self, optimizer)


def _fit(module: pl.LightningModule, precision: str) -> None:
    plugins = (
        [MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu", init_scale=SCALE))]
        if precision == "16-mixed"
        else []
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        plugins=plugins,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module)
    if precision == "16-mixed":
        assert trainer.precision_plugin.scaler.get_scale() == SCALE  # finite step: no backoff


@pytest.mark.parametrize("precision", ["32-true", "16-mixed"])
@pytest.mark.parametrize("true_norm, stepped", [(5.9, 5.9), (59.0, 10.0)])
def test_clip_sees_the_unscaled_norm(precision, true_norm, stepped):
    c = torch.tensor([3.0, 4.0, 0.0, 12.0]) * (true_norm / 13.0)
    module = _Linear(c, clip=10.0)
    _fit(module, precision)
    # Before the fix, 16-mixed clipped c·16384 to norm 10, so w moved by 10 / 16384 = 6e-4.
    assert module.w.detach().norm().item() == pytest.approx(stepped, rel=1e-5)
    assert torch.allclose(-module.w.detach(), c * (stepped / true_norm), rtol=1e-5)


def test_a_module_without_the_hook_fails_instead_of_skipping_the_clip():
    with pytest.raises(RuntimeError, match="must call clip_pending_gradients"):
        _fit(_Linear(torch.ones(3), clip=1.0, hook=False), "32-true")


def test_mier_fit_under_16_mixed_clips_the_true_model_gradient(run_cli, monkeypatch):
    """The real model step: the clip sees the same norms as in float32 (about 4-5 on the debug
    point-rotated run), not the loss-scaled ones (7e4 before the fix), and leaves them uncut."""
    seen: list[float] = []
    after: list[float] = []
    clip_grad_norm = torch.nn.utils.clip_grad_norm_

    def record(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        seen.append(float(clip_grad_norm(parameters, max_norm, *args, **kwargs)))
        grads = [p.grad.norm() for p in parameters if p.grad is not None]
        after.append(float(torch.linalg.vector_norm(torch.stack(grads))))

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", record)
    plugin = {
        "class_path": "pytorch_lightning.plugins.precision.MixedPrecision",
        "init_args": {"precision": "16-mixed", "device": "cpu"},
    }
    cli = run_cli(
        "fit",
        "--config",
        CONF / "point_rotated.yaml",
        "--config",
        CONF / "debug.yaml",
        "--trainer.max_epochs",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.plugins",
        json.dumps(plugin),
    )
    scaler = cli.trainer.precision_plugin.scaler
    assert scaler is not None and scaler.get_scale() >= 2.0**14  # gradients were scaled
    assert len(seen) == 4  # one model step per batch
    finite = [s for s in seen if s < float("inf")]  # the first step overflows at 65 536
    assert len(finite) >= 3
    assert all(1.0 < s < 10.0 for s in finite), seen
    assert all(a == pytest.approx(s, rel=1e-4) for s, a in zip(seen, after) if s in finite)
