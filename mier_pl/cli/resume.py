"""Resuming a ``fit`` run: which checkpoint ``--ckpt_path last`` means and whether it fits.

A resume builds the module from *this* config and then loads the checkpoint's weights,
optimisers and replay into it. That works only when the networks and the replay have the
checkpoint's shapes, so :func:`compare` splits the differences between the checkpoint's saved
settings and this config into those that make the resume impossible (:data:`SHAPE_KEYS`,
refused by name) and the rest, which this config changes and the CLI reports. Lightning's own
``--ckpt_path`` handling instead overwrote the config's model settings with the checkpoint's,
silently dropping any given at resume.

Like ``cli/main.py`` this sits at the top of the import graph; nothing below imports it.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

# Settings that fix a parameter's or the replay's shape: a checkpoint differing in any of them
# cannot be loaded into the module or data module this config builds.
SHAPE_KEYS = (
    "class_path",
    "dynamics.context_dim",
    "dynamics.hidden",
    "dynamics.layers",
    "dynamics.models",
    "dynamics.learn_prior",
    "sac.hidden",
    "data.capacity",
)
# Derived from the family (linked at instantiation); the family check covers them.
_LINKED = ("obs_dim", "act_dim", "reward_only", "task_encoding_dim")


def _import(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _dataclass_of(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
    return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(value, list):
        value = tuple(value)
    return {prefix.rstrip("."): value}


def model_settings(class_path: str, init_args: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted settings of a module (``sac.lr``, ``class_path``), a group left at ``None``
    filled with its dataclass's defaults, so a checkpoint and a config compare field by field."""
    cls = _import(class_path)
    hints = typing.get_type_hints(cls.__init__)
    resolved: dict[str, Any] = {}
    for key, value in init_args.items():
        if key in _LINKED or key.startswith("_"):
            continue
        kind = _dataclass_of(hints.get(key))
        if value is None and kind is not None:
            value = dataclasses.asdict(kind())
        elif dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        resolved[key] = value
    return {"class_path": class_path, **_flatten(resolved)}


def checkpoint_settings(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a ``fit`` checkpoint was written with (its module's and its capacity)."""
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    class_path = hparams.pop("_class_path", None)
    hparams.pop("_instantiator", None)
    out = model_settings(class_path, hparams) if class_path else {}
    replay = (checkpoint.get("ReplayDataModule") or {}).get("replay")
    if replay is not None:
        out["data.capacity"] = int(replay["capacity"])
    return out


def config_settings(cfg: Any) -> dict[str, Any]:
    """A parsed ``fit`` config's settings in :func:`checkpoint_settings`'s form."""
    init_args = cfg.model.get("init_args")
    init_args = init_args.as_dict() if init_args is not None else {}
    return {**model_settings(cfg.model.class_path, init_args), "data.capacity": cfg.data.capacity}


def check_resumable(checkpoint: Mapping[str, Any], current: Mapping[str, Any], path: str) -> dict:
    """Raise ``ValueError`` naming the keys when ``checkpoint`` cannot be loaded into what
    ``current`` builds; return the other settings this config changes (to report)."""
    shape, other = compare(checkpoint_settings(checkpoint), current)
    if shape:
        raise ValueError(
            f"checkpoint {path} cannot be resumed with this config, whose networks or replay "
            f"differ: {describe(shape)}; resume with the config of the run that wrote it, or "
            "start a new run without --ckpt_path"
        )
    return other


def find_last(
    run_root: Path, cfg: Any, read: Callable[[Path], Mapping[str, Any]]
) -> tuple[Path, int | str | None] | None:
    """``--ckpt_path last``: ``(checkpoint, logger version)`` of the newest ``last.ckpt`` this
    config's run wrote (in ``--checkpoint.dirpath`` if given, else under ``run_root``) whose
    family, networks and replay fit this config; ``None`` (and a notice) when there is none.

    Newer runs of other shapes (a ``conf/debug.yaml`` run, say) are skipped with a notice; when
    no run fits, ``ValueError`` names the newest one and how it differs.
    """
    dirpath = cfg.checkpoint.get("dirpath")
    where = Path(dirpath) if dirpath else run_root
    found = last_checkpoints(run_root, dirpath)
    if not found:
        print(f"no last.ckpt under {where}/: starting a new run")
        return None
    current = config_settings(cfg)
    misfits: list[tuple[Path, dict]] = []
    for path in found:
        checkpoint = read(path)
        shape, _ = compare(checkpoint_settings(checkpoint), current)
        saved_family = (checkpoint.get("mier") or {}).get("family")
        if saved_family not in (None, cfg.data.family):
            shape = {"data.family": (saved_family, cfg.data.family), **shape}
        if not shape:
            break
        misfits.append((path, shape))
    else:
        newest, shape = misfits[0]
        raise ValueError(
            f"--ckpt_path last: no run under {where} fits this config; the newest, {newest}, "
            f"differs in {describe(shape)}. Resume it with its own config "
            f"({newest.parent.parent / 'config.yaml'}) or start a new run without --ckpt_path"
        )
    if misfits:
        print(
            f"--ckpt_path last: skipped {len(misfits)} newer run(s) whose networks differ from "
            f"this config (newest: {misfits[0][0]}, {', '.join(misfits[0][1])})"
        )
    run_dir = run_dir_of(path, run_root, dirpath)
    if run_dir is None:
        return path, None
    version = run_dir.name.removeprefix("version_")
    return path, int(version) if version.isdigit() else version


def compare(
    saved: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """``(shape differences, other differences)``, each ``{key: (saved, current)}``."""
    diff = {
        k: (saved.get(k), current.get(k))
        for k in sorted(set(saved) | set(current))
        if k in saved and k in current and saved[k] != current[k]
    }
    shape = {k: v for k, v in diff.items() if k in SHAPE_KEYS}
    return shape, {k: v for k, v in diff.items() if k not in SHAPE_KEYS}


def describe(diff: Mapping[str, tuple]) -> str:
    """``sac.lr 0.0003 (checkpoint) → 0.0001 (this config), ...``."""
    return ", ".join(
        f"{k} {old!r} (checkpoint) → {new!r} (this config)" for k, (old, new) in diff.items()
    )


_LAST = re.compile(r"last(-v\d+)?\.ckpt")


def progress(path: Path) -> tuple[int, int]:
    """``(global step, epoch)`` a checkpoint was saved at; ``(-1, -1)`` for an unreadable one
    (reading it for real then says what is wrong with it)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(saved.get("global_step", -1)), int(saved.get("epoch", -1))
    except Exception:
        return -1, -1


def last_checkpoints(run_root: Path, dirpath: str | None) -> list[Path]:
    """The checkpoint ``--ckpt_path last`` may mean in each run, newest run first: in
    ``--checkpoint.dirpath`` when one is given (where the run wrote), else in
    ``run_root/version_*/checkpoints/``. Within a run it is the ``last*.ckpt`` with the most
    progress: a run moved or copied before this version wrote ``last-v1.ckpt`` beside an older
    ``last.ckpt``, and resuming the older one redid epochs already in ``metrics.csv``."""
    dirs: Iterable[Path] = [Path(dirpath)] if dirpath else run_root.glob("version_*/checkpoints")
    found = []
    for directory in dirs:
        files = [p for p in directory.glob("last*.ckpt") if _LAST.fullmatch(p.name)]
        if files:
            found.append(max(files, key=lambda p: (progress(p), p.stat().st_mtime)))
    return sorted(
        found,
        key=lambda p: max(f.stat().st_mtime for f in p.parent.glob("last*.ckpt")),
        reverse=True,
    )


def run_dir_of(ckpt: Path, run_root: Path, dirpath: str | None) -> Path | None:
    """The ``version_<n>`` directory whose run wrote ``ckpt``: its parent's parent, or (with a
    ``--checkpoint.dirpath`` elsewhere) the run whose saved config names that directory."""
    if not dirpath:
        return ckpt.parent.parent
    target = Path(dirpath).resolve()
    for config in sorted(run_root.glob("version_*/config.yaml")):
        try:
            saved = yaml.safe_load(config.read_text()) or {}
        except yaml.YAMLError:
            continue
        saved_dir = (saved.get("checkpoint") or {}).get("dirpath")
        if saved_dir and Path(saved_dir).resolve() == target:
            return config.parent
    return None


def config_name(log_dir: Path) -> str:
    """``config.yaml`` for a new run; ``config.resume-<k>.yaml`` for its k-th resume, so the
    original record is never overwritten."""
    if not (log_dir / "config.yaml").exists():
        return "config.yaml"
    k = 1
    while (log_dir / f"config.resume-{k}.yaml").exists():
        k += 1
    return f"config.resume-{k}.yaml"
