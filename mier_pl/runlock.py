"""One writer per run directory, and the command that resumes an interrupted one.

Two processes writing one run (a second ``fit --ckpt_path last`` while the first still trains,
two ``adapt`` runs started together, ``reproduce --jobs 2`` with a method twice) interleave
``metrics.csv`` and overwrite each other's ``last.ckpt``. :func:`hold` takes an exclusive
``filelock`` lock on ``<run>/.lock`` for the rest of the process; a second writer is refused in
one line naming the holder. The lock is the operating system's (``flock``), so a process that
dies, even by SIGKILL, releases it: nothing is left stuck.

Like ``cli/main.py`` this sits at the top of the import graph; nothing below imports it.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from filelock import FileLock, Timeout

LOCK = ".lock"
_held: dict[Path, FileLock] = {}  # kept until exit: releasing means another writer may start


def is_first_process() -> bool:
    """Whether this is the launching process: DDP's other ranks (started by Lightning, torchrun
    or SLURM with a rank in the environment) write into the run rank 0 has locked."""
    return all(
        int(os.environ.get(name, "0") or 0) == 0
        for name in ("LOCAL_RANK", "RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")
    )


def hold(run_dir: str | os.PathLike, fix: str, name: str = LOCK) -> None:
    """Lock ``run_dir`` for this process until it exits, or exit with one line naming the
    process that holds it and ``fix`` (what to do instead).

    Holding it already (a second call in one process, e.g. tests) is a no-op.
    """
    if not is_first_process():
        return
    run_dir = Path(run_dir).resolve()
    path = run_dir / name
    if path in _held:
        return
    lock = FileLock(path, timeout=0)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": command_line(sys.argv),
        }
        # Beside the lock, not in it: each try to take the lock truncates the lock file.
        (run_dir / (name + ".holder")).write_text(json.dumps(info) + "\n")
    except Timeout:
        raise SystemExit(
            f"error: {run_dir} is being written by {holder(run_dir, name)}; {fix}"
        ) from None
    except OSError as err:  # a read-only disk, a file where a directory should be
        raise SystemExit(_unwritable(run_dir, err)) from None
    _held[path] = lock


def _unwritable(directory: Path, err: OSError) -> str:
    return (
        f"error: cannot write the run directory {directory} ({err.strerror or err}); make it "
        "writable, or write the run elsewhere (--trainer.default_root_dir)"
    )


def release(run_dir: str | os.PathLike, name: str = LOCK) -> None:
    """Let another process write ``run_dir`` (for a caller that holds it only for a while)."""
    lock = _held.pop(Path(run_dir).resolve() / name, None)
    if lock is not None:
        lock.release()


def holder(run_dir: Path, name: str = LOCK) -> str:
    """``process 123 on host since 2026-01-01 10:00:00 (python -m mier_pl fit ...)``."""
    try:
        info = json.loads((run_dir / (name + ".holder")).read_text())
    except (OSError, ValueError):
        return "another process"
    return (
        f"process {info.get('pid')} on {info.get('host')} since {info.get('since')} "
        f"({info.get('command')})"
    )


def new_run_dir(root: str | os.PathLike, prefix: str) -> Path:
    """Create and return ``root/<prefix><n>``, ``n`` one past the largest taken: ``mkdir``
    without ``exist_ok`` is atomic, so two runs started together never get the same one."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        taken = [
            int(p.name.removeprefix(prefix))
            for p in root.glob(f"{prefix}*")
            if p.name.removeprefix(prefix).isdigit()
        ]
        n = max(taken, default=-1) + 1
        while True:
            try:
                (root / f"{prefix}{n}").mkdir()
                return root / f"{prefix}{n}"
            except FileExistsError:
                n += 1
    except OSError as err:
        raise SystemExit(_unwritable(root, err)) from None


def command_line(argv: Sequence[str]) -> str:
    """``sys.argv`` as the command a user types: ``python -m mier_pl fit ...``."""
    first = Path(argv[0]) if argv else Path("mier_pl")
    if first.name == "__main__.py":
        head = f"python -m {first.parent.name}"
    else:
        head = shlex.quote(str(first))
    return " ".join([head, *(shlex.quote(a) for a in argv[1:])])


def with_options(args: Sequence[str], options: Mapping[str, str]) -> list[str]:
    """``args`` with each of ``options`` (``--ckpt_path``) set to its value: any earlier
    ``--key value`` or ``--key=value`` is dropped and the new one appended."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in options:
            skip = True
            continue
        if arg.split("=", 1)[0] in options and "=" in arg:
            continue
        out.append(arg)
    for key, value in options.items():
        out += [key, value]
    return out
