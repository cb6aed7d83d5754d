"""Checkpoint writes never cost the previous checkpoint: injected and real full disks."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mier_pl.data import checkpoint_io
from mier_pl.data.checkpoint_io import CheckpointError, atomic_save, read_checkpoint
from tests.conftest import CONF


def _full_disk(fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _state(epoch: int, size: int = 1000) -> dict:
    return {"epoch": epoch, "weights": torch.arange(size, dtype=torch.float32)}


def test_atomic_save_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "ckpts" / "last.ckpt"
    atomic_save(_state(0), path)
    atomic_save(_state(1), path)
    assert read_checkpoint(path)["epoch"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_enospc_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_save(_state(3), path)
    before = path.read_bytes()

    monkeypatch.setattr(checkpoint_io.os, "fsync", _full_disk)
    with pytest.raises(CheckpointError) as exc:
        atomic_save(_state(4, size=5000), path)
    msg = str(exc.value)
    assert exc.value.errno == errno.ENOSPC
    assert f"no space left to write last.ckpt in {tmp_path}" in msg
    needed = len(_serialized(_state(4, size=5000)))
    assert f"{needed} bytes needed" in msg
    assert "the previous last.ckpt (epoch 3) is intact" in msg and "\n" not in msg
    assert path.read_bytes() == before and read_checkpoint(path)["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # temporary removed


def test_too_little_free_space_is_refused_before_the_file_is_touched(tmp_path, monkeypatch):
    path = tmp_path / "replay_rank1.pt"
    atomic_save({"global_step": 8, "replay": torch.zeros(10)}, path)
    monkeypatch.setattr(
        checkpoint_io.shutil, "disk_usage", lambda p: SimpleNamespace(free=100, total=100, used=0)
    )
    with pytest.raises(CheckpointError, match=r"the previous replay_rank1.pt \(step 8\) is intact"):
        atomic_save({"global_step": 12, "replay": torch.zeros(1000)}, path)
    assert read_checkpoint(path)["global_step"] == 8


def _ddp_datamodule(rank: int, directory: Path, others_ok: bool = True):
    from mier_pl.data.datamodule import ReplayDataModule

    dm = ReplayDataModule(family="point-goal", capacity=100)
    dm.build("cpu", rank=rank, world_size=2)
    # Lightning's DDP strategy all-reduces the decision; here the other rank's is given.
    strategy = SimpleNamespace(reduce_boolean_decision=lambda ok: ok and others_ok)
    dm.trainer = SimpleNamespace(
        global_step=8,
        ckpt_path=None,
        strategy=strategy,
        checkpoint_callback=SimpleNamespace(dirpath=str(directory)),
    )
    return dm


def test_ddp_replay_shards_keep_the_previous_checkpoints_shard(tmp_path, monkeypatch):
    """Rank 1's replay goes through the atomic writer and keeps the shard it replaces, so the
    previous last.ckpt stays loadable if rank 0 then fails; a shard that cannot be written
    stops the save before last.ckpt is replaced."""
    dm = _ddp_datamodule(1, tmp_path)
    dm.collector.env_steps = 50
    saved_at_8 = dm.state_dict()
    assert saved_at_8["collector"]["env_steps"] == 50
    dm.collector.env_steps = 123  # rank 1 collects before the next save
    dm.trainer.global_step = 12
    dm.state_dict()
    shard = tmp_path / "replay_rank1.pt"
    assert read_checkpoint(shard)["global_step"] == 12
    assert read_checkpoint(tmp_path / "replay_rank1.prev.pt")["global_step"] == 8

    # Rank 0's write of step 12 failed, so last.ckpt is still step 8's (rank 0's own replay:
    # 999 steps): rank 1 resumes from its step-8 shard, not the newer one.
    rank0_state = {**saved_at_8, "collector": {**saved_at_8["collector"], "env_steps": 999}}
    fresh = _ddp_datamodule(1, tmp_path)
    fresh.load_state_dict(rank0_state)
    assert fresh.collector.env_steps == 50

    dm.trainer.global_step = 16
    monkeypatch.setattr(checkpoint_io.os, "fsync", _full_disk)
    with pytest.raises(CheckpointError, match=r"replay_rank1.pt \(step 12\) is intact"):
        dm.state_dict()
    assert read_checkpoint(shard)["global_step"] == 12


def test_rank_0_does_not_replace_last_ckpt_when_a_shard_failed(tmp_path):
    dm = _ddp_datamodule(0, tmp_path, others_ok=False)
    with pytest.raises(CheckpointError, match="another rank could not write its replay shard"):
        dm.state_dict()


def test_damaged_and_code_holding_files_get_one_line(tmp_path):
    good = tmp_path / "good.ckpt"
    atomic_save(_state(0), good)
    empty, cut, code = tmp_path / "empty.ckpt", tmp_path / "cut.ckpt", tmp_path / "code.ckpt"
    empty.write_bytes(b"")
    cut.write_bytes(good.read_bytes()[:100])
    torch.save({"hook": print}, code)
    for path, words in ((empty, "is empty"), (cut, "is damaged"), (code, "pickled Python")):
        for mmap in (False, True):
            with pytest.raises(CheckpointError) as exc:
                read_checkpoint(path, mmap=mmap)
            assert words in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def _serialized(obj) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB tmpfs (CI runs as root); skipped where mounting is not permitted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip() or out.returncode}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> None:
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def test_full_tmpfs_write_leaves_the_previous_checkpoint_loadable(small_disk, monkeypatch):
    """The kernel's own ENOSPC mid-write (the free-space check fooled into passing)."""
    path = small_disk / "last.ckpt"
    atomic_save(_state(0, size=100_000), path)  # 400 kB
    _fill(small_disk, leave=200_000)
    monkeypatch.setattr(
        checkpoint_io.shutil,
        "disk_usage",
        lambda p: SimpleNamespace(free=10**12, total=10**12, used=0),
    )
    with pytest.raises(CheckpointError) as exc:
        atomic_save(_state(1, size=100_000), path)
    assert "bytes needed" in str(exc.value) and "(epoch 0) is intact" in str(exc.value)
    assert read_checkpoint(path)["epoch"] == 0
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "last.ckpt"]


def test_fit_on_a_full_tmpfs_stops_in_one_line_and_resumes_from_the_previous_epoch(
    small_disk, run_cli
):
    args = [
        "fit",
        "--config",
        CONF / "point_goal.yaml",
        "--config",
        CONF / "debug.yaml",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.default_root_dir",
        small_disk,
    ]
    run_cli(*args, "--trainer.max_epochs", "1")
    ckpt = small_disk / "lightning_logs" / "point-goal" / "version_0" / "checkpoints" / "last.ckpt"
    size = ckpt.stat().st_size
    _fill(small_disk, leave=size // 2)  # room for the logs, not for a second checkpoint
    with pytest.raises(SystemExit) as exc:
        run_cli(*args, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    msg = str(exc.value)
    assert msg.startswith(f"error: no space left to write last.ckpt in {ckpt.parent}: ")
    assert "bytes needed" in msg and "the previous last.ckpt (epoch 0) is intact" in msg
    assert read_checkpoint(ckpt)["epoch"] == 0
    assert not [p for p in ckpt.parent.iterdir() if p.name != "last.ckpt"]

    (small_disk / "filler").unlink()  # space freed: the resume picks up after epoch 0
    cli = run_cli(*args, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert cli.trainer.current_epoch == 2 and read_checkpoint(ckpt)["epoch"] == 1
    assert os.path.samefile(cli.trainer.checkpoint_callback.last_model_path, ckpt)
