"""Algorithm 2's replay: the 12 + 244 batch mix, the synthetic FIFO, the settings."""

from __future__ import annotations

import pytest
import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.data.relabel_replay import AdaptConfig, RelabelReplay


def numbered(ids: torch.Tensor) -> TransitionBatch:
    """Transitions whose reward is their id, so every sample says where it came from."""
    n = len(ids)
    obs = ids.float()[:, None].expand(n, 2)
    return TransitionBatch(
        obs, torch.zeros(n, 2), ids.float(), obs + 1, torch.zeros(n), torch.zeros(n)
    )


def test_defaults_give_12_real_of_256_and_20000_sac_updates():
    cfg = AdaptConfig()
    assert cfg.real_count == 12 and cfg.batch_size - cfg.real_count == 244
    assert cfg.sac_updates == 20_000
    assert AdaptConfig(epochs=10, loop_steps=50).sac_updates == 1_000  # ant-dir (spec §6 table)
    assert (
        cfg.relabel_kind(reward_only=True) == "reward"
        and cfg.relabel_kind(reward_only=False) == "rollout"
    )
    assert AdaptConfig(relabel="rollout").relabel_kind(reward_only=True) == "rollout"


def test_bad_settings_name_the_flag():
    with pytest.raises(ValueError, match=r"--adapt\.loop_steps"):
        AdaptConfig(loop_steps=0)
    with pytest.raises(ValueError, match="empty adapt or validation split"):
        AdaptConfig(adapt_steps=2, val_fraction=0.2)


def test_every_sac_batch_is_exactly_12_real_then_244_synthetic():
    replay = RelabelReplay(2, 2, capacity=10_000)
    replay.set_real(numbered(torch.arange(1000, 1200)))  # real ids ≥ 1000
    replay.add_synthetic(numbered(-1 - torch.arange(5000)))  # synthetic ids < 0
    batch = replay.sample(
        updates=2,
        batch_size=256,
        real_count=AdaptConfig().real_count,
        generator=torch.Generator().manual_seed(0),
    )
    assert batch.rew.shape == (2, 256) and batch.obs.shape == (2, 256, 2)
    is_real = (batch.rew >= 1000) & (batch.rew < 1200)
    assert is_real[:, :12].all() and (batch.rew[:, 12:] < 0).all()
    assert is_real.sum(dim=1).tolist() == [12, 12]
    assert not torch.equal(batch.rew[0], batch.rew[1])  # each update draws its own batch


def test_closed_gate_trains_on_real_data_alone():
    replay = RelabelReplay(2, 2, capacity=100)
    replay.set_real(numbered(torch.arange(1000, 1030)))
    replay.use_synthetic = False  # nothing synthetic was ever added: no error either
    batch = replay.sample(2, 256, 12)
    assert ((batch.rew >= 1000) & (batch.rew < 1030)).all()


def test_synthetic_buffer_is_fifo_with_exact_contents_after_overflow():
    replay = RelabelReplay(2, 2, capacity=10)
    replay.set_real(numbered(torch.arange(1000, 1004)))
    replay.add_synthetic(numbered(torch.arange(0, 6)))
    replay.add_synthetic(numbered(torch.arange(6, 12)))
    assert replay.synthetic_size == 10
    held = replay.synthetic.all_transitions(0).rew
    # Ring storage: ids 10 and 11 overwrote the two oldest rows (ids 0 and 1).
    assert held.tolist() == [10, 11, 2, 3, 4, 5, 6, 7, 8, 9]
    replay.add_synthetic(numbered(torch.arange(12, 27)))  # more than the capacity at once
    assert sorted(replay.synthetic.all_transitions(0).rew.tolist()) == list(range(17, 27))
    drawn = replay.sample(4, 64, 0).rew
    assert drawn.min() >= 17 and drawn.max() <= 26


def test_sampling_before_any_real_data_says_so():
    with pytest.raises(RuntimeError, match="no real transitions"):
        RelabelReplay(2, 2, capacity=10).sample(1, 8, 1)


def test_state_round_trips_through_torch_save(tmp_path):
    replay = RelabelReplay(2, 2, capacity=10)
    replay.set_real(numbered(torch.arange(1000, 1004)))
    replay.add_synthetic(numbered(torch.arange(0, 13)))
    replay.use_synthetic = False
    torch.save(replay.state_dict(), tmp_path / "r.pt")
    back = RelabelReplay(2, 2, capacity=10)
    back.load_state_dict(torch.load(tmp_path / "r.pt", weights_only=True))
    assert (
        back.synthetic.all_transitions(0).rew.tolist()
        == replay.synthetic.all_transitions(0).rew.tolist()
    )
    assert torch.equal(back.real.rew, replay.real.rew) and back.use_synthetic is False
