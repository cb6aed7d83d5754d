"""Checkpoint files: written so a full disk or a kill never costs the previous one, read with
one-line errors.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in ``$TMPDIR`` and is then moved over ``last.ckpt``. When the run directory is on another
filesystem (a cluster's scratch space, a Docker volume) that move is a copy in place, so a disk
that fills mid-copy truncates the previous ``last.ckpt`` to an unloadable file, and ``/tmp`` must
hold a full spare copy (about 1 GiB for ant-negated-joints). :func:`atomic_save` writes the
temporary file in the destination directory, fsyncs it and ``os.replace``s it into place (a
rename on one filesystem: all or nothing). Every checkpoint goes through it: ``last.ckpt`` of
``fit`` and of each ``adapt`` task (via :class:`AtomicCheckpointIO`, the Trainers' checkpoint
plugin) and the DDP replay shards (:class:`~mier_pl.data.datamodule.ReplayDataModule`).
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import get_filesystem


class CheckpointError(OSError):
    """A checkpoint could not be written or read; the message says what is intact and what to do.

    ``python -m mier_pl`` prints it as one ``error:`` line instead of a traceback.
    """

    def __str__(self) -> str:
        return str(self.strerror)  # the message alone, without OSError's "[Errno 28]"


def describe_previous(path: Path) -> str:
    """``the previous last.ckpt (epoch 3) is intact``, or that there is none, for messages."""
    if not path.is_file():
        return f"no previous {path.name} exists there yet"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return f"the previous {path.name} there is not loadable either"
    if "epoch" in saved:
        return f"the previous {path.name} (epoch {saved['epoch']}) is intact"
    if "global_step" in saved:
        return f"the previous {path.name} (step {saved['global_step']}) is intact"
    return f"the previous {path.name} is intact"


def _no_space(path: Path, needed: int) -> CheckpointError:
    free = shutil.disk_usage(path.parent).free
    return CheckpointError(
        errno.ENOSPC,
        f"no space left to write {path.name} in {path.parent}: {needed} bytes needed, {free} "
        f"free; {describe_previous(path)}. Free space there (or copy the run to a disk with "
        "room) and resume: fit --ckpt_path last, adapt --resume <its adapt_<n> directory>",
    )


def previous_path(path: str | os.PathLike) -> Path:
    """Where :func:`atomic_save` with ``keep_previous`` keeps the file it replaced."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def atomic_save(obj: Any, path: str | os.PathLike, keep_previous: bool = False) -> None:
    """``torch.save`` ``obj`` to ``path`` so that ``path`` is always a complete file: old or new.

    The bytes go to a hidden temporary file beside ``path``, are fsynced, and the file is renamed
    over ``path`` (then the directory is fsynced, so the rename survives a power cut). A disk
    without room for the whole file raises :class:`CheckpointError` before ``path`` is touched.
    ``keep_previous`` first renames the old file to :func:`previous_path` (DDP replay shards:
    if rank 0 then fails to write ``last.ckpt``, the previous one still has its shards).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getbuffer()
    if shutil.disk_usage(path.parent).free < len(data):
        raise _no_space(path, len(data))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.is_file():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(path, len(data)) from None
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint plugin with :func:`atomic_save` for local paths.

    Remote paths (``s3://...``) keep Lightning's own writer, whose transaction is atomic there.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, path)


def read_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """``torch.load`` of a checkpoint (tensors and plain data only), with one-line errors.

    Args:
        path: the checkpoint file.
        mmap: map the file instead of reading it, so only what is used is read (metadata
            checks of a checkpoint whose replay is gigabytes).

    Raises:
        CheckpointError: the file is damaged (cut off, empty, not a torch checkpoint) or holds
            pickled code, which a mier_pl checkpoint never does and which is not loaded.
    """
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise _damaged(path, err) from None
        raise CheckpointError(
            errno.EINVAL,
            f"checkpoint {path} holds pickled Python objects (code), which mier_pl checkpoints "
            "never contain, and will not be loaded; use a last.ckpt written by "
            "`python -m mier_pl fit`",
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise _damaged(path, err) from None


def _damaged(path: Path, err: Exception) -> CheckpointError:
    size = path.stat().st_size if path.is_file() else 0
    reason = str(err).split(". ")[0].split(":")[0] or type(err).__name__  # torch's first clause
    if size == 0:
        reason = "the file is empty"
    return CheckpointError(
        errno.EINVAL,
        f"checkpoint {path} is damaged ({size} bytes, not a complete torch checkpoint: {reason}); "
        "it was cut off while being written or copied. Use an intact copy, or rerun the fit "
        "that wrote it",
    )


# A fit checkpoint without any of these cannot continue the run it was written by: Lightning
# would silently start the missing part afresh (a new replay, step counters at zero).
FIT_PARTS = ("state_dict", "optimizer_states", "loops", "epoch", "global_step", "ReplayDataModule")
_FINITE = ("state_dict", "optimizer_states", "ReplayDataModule")


def check_intact(checkpoint: dict[str, Any], path: str | os.PathLike, parts=FIT_PARTS) -> None:
    """Raise :class:`CheckpointError` naming what is wrong unless ``checkpoint`` holds every
    one of ``parts`` (the replay with its collector), its replay tensors agree in shape, its
    counters are non-negative and consistent, and every floating-point tensor is finite.

    A file that fails any of these was damaged or assembled by hand; resuming it would train
    on a fresh replay, restart the env-step count, or stop later blaming the learning rate.
    """
    missing = [p for p in parts if p not in checkpoint]
    data = checkpoint.get("ReplayDataModule")
    if "ReplayDataModule" in parts and not missing:
        missing = [f"ReplayDataModule.{k}" for k in ("replay", "collector") if k not in data]
    if missing:
        _refuse(path, f"lacks {', '.join(missing)} (a partial checkpoint)")
    for key in ("epoch", "global_step"):
        if key in checkpoint and int(checkpoint[key]) < 0:
            _refuse(path, f"has a negative {key} ({checkpoint[key]})")
    replay = (data or {}).get("replay")
    if replay is not None:
        _check_replay(replay, (data or {}).get("collector") or {}, path)
    # Weights, optimiser moments and replay; callbacks' state legitimately holds infinities
    # (ModelCheckpoint's kth_value starts at inf).
    learned = {k: checkpoint[k] for k in _FINITE if k in checkpoint}
    for where, tensor in _tensors(learned, ""):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            _refuse(path, f"holds {bad} non-finite value(s) in {where}")


def optimizer_layout(optimizer_states: Sequence[dict]) -> list[int]:
    """Parameter groups per optimiser, from a checkpoint's ``optimizer_states`` or from
    ``[opt.state_dict() for opt in optimizers]``."""
    return [len(state["param_groups"]) for state in optimizer_states]


def check_optimizer_layout(saved: list[int], optimizers: Sequence, path) -> None:
    """Raise :class:`CheckpointError` unless a checkpoint's optimiser layout ``saved``
    (:func:`optimizer_layout`) is that of ``optimizers``, the resumed run's: as many optimisers,
    each with as many parameter groups. Torch would otherwise stop with a bare ``ValueError``
    halfway through the restore (a file from before actor and α shared one Adam, say)."""
    want = [len(optimizer.param_groups) for optimizer in optimizers]
    if saved != want:
        raise CheckpointError(
            errno.EINVAL,
            f"checkpoint {path} holds {len(saved)} optimiser state(s) with {saved} parameter "
            f"groups, but this run's module steps {len(want)} optimiser(s) with {want}: it was "
            "written by another module or an older layout of this one; resume it with the "
            "version that wrote it, or start a new run",
        )


def _check_replay(replay: dict[str, Any], collector: dict[str, Any], path) -> None:
    rows = {k: tuple(v.shape[:2]) for k, v in replay.items() if k.endswith("obs") or k == "rew"}
    if len(set(rows.values())) > 1:
        _refuse(path, f"has replay tensors of different shapes ({rows})")
    counters = {k: replay[k] for k in ("added", "pre_added", "pre_first") if k in replay}
    for name, value in counters.items():
        if bool((value < 0).any()):
            _refuse(path, f"has negative replay counters in {name}")
    steps = collector.get("env_steps")
    if steps is not None and "added" in replay and int(replay["added"].sum()) > int(steps):
        _refuse(
            path,
            f"holds {int(replay['added'].sum())} replay transitions but counts only {int(steps)} "
            "env steps",
        )


def _tensors(value: Any, where: str):
    """``(dotted key, tensor)`` for every tensor nested in dicts and lists of ``value``."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _tensors(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _tensors(v, f"{where}[{i}]")


def _refuse(path, problem: str) -> None:
    raise CheckpointError(
        errno.EINVAL,
        f"checkpoint {path} {problem}: it is damaged and cannot be resumed; use an intact "
        "last.ckpt of the run (or rerun the fit that wrote it)",
    )
