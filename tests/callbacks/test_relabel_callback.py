"""RelabelCallback driving a tiny AdaptModule: schedule, counts, state round trip, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from mier_pl.callbacks.relabel_callback import RelabelCallback
from mier_pl.data.algorithm import explore, random_policy
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.relabel_replay import AdaptConfig
from mier_pl.data.rollout import Collector
from mier_pl.envs import make_env
from mier_pl.modules.adapt_module import AdaptModule
from mier_pl.modules.context_sac import SACConfig
from mier_pl.modules.meta_model import DynamicsConfig
from mier_pl.modules.mier import MIERModule

FAMILY = "point-rotated"
SETTINGS = AdaptConfig(
    adapt_steps=30,
    context_steps=3,
    model_steps=2,
    epochs=2,
    loop_steps=4,
    refresh_every=2,
    synthetic_tasks=3,
    synthetic_per_task=30,
    batch_size=32,
    synthetic_capacity=100,
)


@pytest.fixture(scope="module")
def meta_trained():
    """A tiny (untrained) MIER and a train replay filled by random exploration."""
    torch.manual_seed(0)
    mier = MIERModule(2, 2, False, DynamicsConfig(hidden=16, layers=2), SACConfig(hidden=(16, 16)))
    env = make_env(FAMILY)
    source = MultiTaskReplay(len(env.train_tasks), 2, 2, capacity=1000)
    explore(Collector(FAMILY, None, seed=0), source, random_policy(2), torch.zeros(1, 5), 1, 30, 20)
    return mier, source


def adapt_run(meta_trained, root: Path, max_epochs: int, ckpt_path: str | None = None):
    mier, source = meta_trained
    pl.seed_everything(1, verbose=False)
    env = make_env(FAMILY)
    module = AdaptModule(
        MIERModule(2, 2, False, DynamicsConfig(hidden=16, layers=2), SACConfig(hidden=(16, 16))),
        Collector(FAMILY, None, seed=5),
        source,
        env.termination_fn,
        env.test_tasks[2],
        SETTINGS,
        reward_only=False,
    )
    module.mier.load_state_dict(mier.state_dict())
    callback = RelabelCallback(SETTINGS)
    checkpoint = ModelCheckpoint(
        dirpath=root,
        filename="last",
        save_top_k=1,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        logger=False,
        callbacks=[callback, checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return trainer, module, callback


def critic_adam_steps(trainer: pl.Trainer) -> int:
    state = trainer.optimizers[0].state_dict()["state"]
    return int(next(iter(state.values()))["step"])


def assert_plain(value, where="state"):
    """Only tensors and plain Python data: what ``torch.load(weights_only=True)`` accepts."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{where}: key {k!r}"
            assert_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            assert_plain(v, f"{where}[{i}]")
    else:
        assert value is None or isinstance(value, (torch.Tensor, bool, int, float, str)), (
            f"{where}: {type(value)}"
        )


def test_schedule_counts_and_identification(meta_trained, tmp_path):
    trainer, module, callback = adapt_run(meta_trained, tmp_path, max_epochs=2)
    # Refresh at loop steps 0 and 2 of each 4-step epoch; evaluate at the start and per epoch.
    assert callback.refreshes == 4 and [callback.should_refresh(k) for k in range(4)] == [
        True,
        False,
        True,
        False,
    ]
    assert len(callback.returns) == 3 and callback.mier_wr == callback.returns[0]
    assert callback.replay.synthetic_size == 100  # 4 × 90 relabeled, FIFO capacity 100
    assert callback.replay.real.rew.shape == (30,)
    assert critic_adam_steps(trainer) == SETTINGS.sac_updates == 2 * 4 * 2
    assert callback.report["context"] == pytest.approx(module.context[0].tolist())
    assert not torch.equal(module.context, module.mier.meta.prior)  # φ_T̂ moved off φ₀
    assert len(callback.report["val_losses"]) == SETTINGS.model_steps


def test_state_round_trips_through_a_checkpoint(meta_trained, tmp_path):
    trainer, module, callback = adapt_run(meta_trained, tmp_path, max_epochs=1)
    state = callback.state_dict()
    assert_plain(state)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    restored = RelabelCallback(SETTINGS)
    restored.load_state_dict(saved["callbacks"]["RelabelCallback"])  # before setup: kept pending
    restored.setup(trainer, module, "fit")
    assert restored.identified and restored.returns == callback.returns and restored.refreshes == 2
    assert restored.report == callback.report
    for name in ("obs", "act", "rew", "next_obs", "terminated"):
        assert torch.equal(
            getattr(restored.replay.synthetic.all_transitions(0), name),
            getattr(callback.replay.synthetic.all_transitions(0), name),
        ), name
        assert torch.equal(
            getattr(restored.replay.real, name), getattr(callback.replay.real, name)
        ), name
    assert torch.equal(saved["state_dict"]["context"], module.context)


def test_an_interrupted_adaptation_resumes_without_identifying_again(
    meta_trained, tmp_path, monkeypatch
):
    first, _, one_epoch = adapt_run(meta_trained, tmp_path, max_epochs=1)
    assert critic_adam_steps(first) == 8
    calls = []
    monkeypatch.setattr(AdaptModule, "collect_real", lambda self: calls.append(1))
    resumed, module, callback = adapt_run(
        meta_trained, tmp_path, max_epochs=2, ckpt_path=str(tmp_path / "last.ckpt")
    )
    assert calls == []  # step 1 (and 2-3) not redone: φ_T̂ and the model came back
    assert callback.returns[:2] == one_epoch.returns and len(callback.returns) == 3
    assert callback.refreshes == 4 and critic_adam_steps(resumed) == 16
    torch.testing.assert_close(module.context[0].tolist(), one_epoch.report["context"])


def test_the_adapt_devices_cuda_generator_is_saved_and_restored(
    meta_trained, tmp_path, monkeypatch
):
    """A GPU adaptation draws the policy's noise and replay samples from its CUDA generator;
    the callback saves that device's state (stand-ins for torch.cuda record the calls)."""
    trainer, module, callback = adapt_run(meta_trained, tmp_path, max_epochs=1)
    fake = torch.arange(4, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: fake + device.index)
    monkeypatch.setattr(callback.replay.synthetic, "device", torch.device("cuda", 1))
    state = callback.state_dict()
    assert torch.equal(state["cuda_rng"], fake + 1)

    restored_to: list[tuple[torch.Tensor, torch.device]] = []
    monkeypatch.setattr(
        "mier_pl.callbacks.relabel_callback.restore_device_rng_state",
        lambda s, device: restored_to.append((s, device)),
    )
    again = RelabelCallback(SETTINGS)
    again.load_state_dict(state)
    again.setup(trainer, module, "fit")
    assert len(restored_to) == 1
    assert torch.equal(restored_to[0][0], fake + 1)
    assert restored_to[0][1] == again.replay.device
