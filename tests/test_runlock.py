"""``mier_pl.runlock``: one writer per run directory, across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mier_pl import runlock
from tests.conftest import ROOT

HOLD = "import sys, time; from mier_pl import runlock; runlock.hold(sys.argv[1], 'fix'); print('held', flush=True); time.sleep(60)"


def _holder(run: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_naming_the_holder_and_a_killed_one_frees_the_run(tmp_path):
    run = tmp_path / "version_0"
    holder = _holder(run)
    try:
        with pytest.raises(SystemExit) as exc:
            runlock.hold(run, "wait for it to finish")
        message = str(exc.value)
        assert message.startswith(
            f"error: {run.resolve()} is being written by process {holder.pid}"
        )
        assert message.endswith("; wait for it to finish") and "\n" not in message
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: no release, no cleanup
        holder.wait()
    runlock.hold(run, "unused")  # the operating system dropped the dead holder's lock
    runlock.release(run)


def test_new_run_directories_of_processes_started_together_are_distinct(tmp_path):
    code = (
        "import sys; from mier_pl import runlock; "
        "print(runlock.new_run_dir(sys.argv[1], 'version_').name)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    (tmp_path / "version_3").mkdir()  # numbering continues after the largest taken
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(4)
    ]
    names = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert names == ["version_4", "version_5", "version_6", "version_7"]


def test_resume_options_replace_earlier_ones_in_both_spellings():
    args = [
        "fit",
        "--ckpt_path",
        "last",
        "--trainer.max_epochs=5",
        "--trainer.logger.init_args.version=3",
    ]
    out = runlock.with_options(
        args, {"--ckpt_path": "a/last.ckpt", "--trainer.logger.init_args.version": "3"}
    )
    assert out == [
        "fit",
        "--trainer.max_epochs=5",
        "--ckpt_path",
        "a/last.ckpt",
        "--trainer.logger.init_args.version",
        "3",
    ]


def test_the_holders_command_is_written_as_typed():
    main = str(Path(runlock.__file__).with_name("__main__.py"))
    assert runlock.command_line([main, "fit", "--config", "a b.yaml"]) == (
        "python -m mier_pl fit --config 'a b.yaml'"
    )
    assert runlock.command_line([main, "reproduce", "--seeds", "0"]) == (
        "python -m mier_pl reproduce --seeds 0"
    )


def test_a_run_directory_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    run = tmp_path / "file" / "version_0"
    with pytest.raises(SystemExit) as exc:
        runlock.hold(run, "unused")
    assert str(exc.value) == (
        f"error: cannot write the run directory {run} (Not a directory); make it writable, or "
        "write the run elsewhere (--trainer.default_root_dir)"
    )
    with pytest.raises(SystemExit) as exc:
        runlock.new_run_dir(tmp_path / "file" / "point-goal", "version_")
    assert str(exc.value).startswith(f"error: cannot write the run directory {tmp_path / 'file'}")
