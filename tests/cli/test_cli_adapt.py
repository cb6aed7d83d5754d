"""End-to-end ``adapt`` through the CLI on a debug-sized point-rotated checkpoint."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from mier_pl.data import video as render
from tests.conftest import CONF, metric_series, read_metrics

DEBUG = CONF / "debug.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A one-epoch debug fit of point-rotated: model, SAC and the train replay."""
    from mier_pl.cli.main import main

    root = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        cli = main(
            [
                "fit",
                "--config",
                str(CONF / "point_rotated.yaml"),
                "--config",
                str(DEBUG),
                "--trainer.max_epochs",
                "1",
                "--trainer.enable_progress_bar",
                "false",
            ]
        )
    return root / cli.trainer.log_dir / "checkpoints" / "last.ckpt"


def _tensorboard_image(log_dir: Path, tag: str) -> bytes:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = log_dir.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events), size_guidance={"images": 0})
    acc.Reload()
    return acc.Images(tag)[-1].encoded_image_string


def _adapt(run_cli, ckpt, *extra):
    return run_cli(
        "adapt",
        "--config",
        CONF / "point_rotated.yaml",
        "--config",
        DEBUG,
        "--trainer.enable_progress_bar",
        "false",
        "--ckpt_path",
        ckpt,
        *extra,
    )


def test_adapt_runs_end_to_end_and_writes_results(run_cli, checkpoint, tmp_path):
    before = _sha(checkpoint)
    cli = _adapt(run_cli, checkpoint, "--tasks", "0,2")
    assert Path(cli.trainer.log_dir) == Path("lightning_logs", "point-rotated", "adapt_0")
    run = tmp_path / cli.trainer.log_dir
    results = json.loads((run / "results.json").read_text())
    settings = results["settings"]
    assert [t["task"] for t in results["tasks"]] == [0, 2]
    for t in results["tasks"]:
        assert len(t["mier"]) == settings["epochs"] == 2 and not t["model_fallback"]
    assert results["summary"]["mier_mean"] == pytest.approx(
        sum(t["mier"][-1] for t in results["tasks"]) / 2
    )
    rows = (run / "results.csv").read_text().splitlines()
    assert rows[0].startswith("task,description,mier_wr,mier,epoch_1,epoch_2,") and len(rows) == 3
    for png in ("returns.png", "comparison.png"):
        assert (run / png).read_bytes()[:8] == PNG_MAGIC
    assert (run / "config.yaml").is_file()
    # TensorBoard/CSV: the summary, and each task's curve (epoch 0 = MIER-wR).
    assert metric_series(read_metrics(run / "metrics.csv"), "adapt/mier_mean")
    task_rows = read_metrics(run / "task_02" / "metrics.csv")
    assert len(metric_series(task_rows, "adapt/return")) == 3
    assert len(metric_series(task_rows, "adapt/model_val_loss")) == 3  # debug: M = 3
    # Each task: epochs × loop steps × 2 SAC updates, from fresh optimisers.
    task_ckpt = torch.load(run / "task_02" / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(next(iter(task_ckpt["optimizer_states"][0]["state"].values()))["step"]) == 2 * 4 * 2
    relabel = task_ckpt["callbacks"]["RelabelCallback"]
    assert (
        relabel["refreshes"] == 4 and int(relabel["replay"]["synthetic"]["added"][0]) == 4 * 3 * 20
    )
    assert _sha(checkpoint) == before  # the meta-trained weights on disk are never modified
    # Each task's MIER-wR episode and its episode after the last relabeling epoch, filmed
    # (31 frames: the reset and 30 steps), also in the task's TensorBoard run.
    ext = "mp4" if render.mp4_available() else "gif"
    for task in ("task_00", "task_02"):
        assert sorted(p.name for p in (run / task).glob("mier*.*")) == [
            f"mier.{ext}",
            f"mier_wr.{ext}",
        ]
    gif = Image.open(io.BytesIO(_tensorboard_image(run / "task_02", "adapt_video/mier")))
    assert gif.n_frames == 31


def test_adapt_without_a_checkpoint_says_which_to_use(run_cli, checkpoint, tmp_path):
    found = (
        tmp_path / "lightning_logs" / "point-rotated" / "version_0" / "checkpoints" / "last.ckpt"
    )
    found.parent.mkdir(parents=True)
    found.write_bytes(checkpoint.read_bytes())
    with pytest.raises(SystemExit) as exc:
        run_cli("adapt", "--config", CONF / "point_rotated.yaml", "--config", DEBUG)
    msg = str(exc.value)
    assert "needs a meta-trained checkpoint" in msg and "--ckpt_path" in msg
    assert "lightning_logs/point-rotated/version_0/checkpoints/last.ckpt" in msg
    with pytest.raises(SystemExit, match=r"nope\.ckpt does not exist"):
        _adapt(run_cli, tmp_path / "nope.ckpt")
    assert not (tmp_path / "lightning_logs" / "point-rotated" / "adapt_0").exists()


def test_adapt_refuses_another_familys_checkpoint(run_cli, checkpoint, tmp_path):
    other = torch.load(checkpoint, weights_only=True)
    other["mier"] = {"family": "point-goal", "obs_dim": 2, "act_dim": 2}
    torch.save(other, tmp_path / "goal.ckpt")
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, tmp_path / "goal.ckpt")
    msg = str(exc.value)
    assert (
        "'point-goal'" in msg
        and "'point-rotated'" in msg
        and "pass a checkpoint of a point-rotated run" in msg
    )


def test_adapt_refuses_a_checkpoint_without_replay(run_cli, checkpoint, tmp_path):
    stripped = torch.load(checkpoint, weights_only=True)
    del stripped["ReplayDataModule"]
    torch.save(stripped, tmp_path / "weights.ckpt")
    with pytest.raises(SystemExit, match=r"holds no replay buffers.*last\.ckpt that `fit` wrote"):
        _adapt(run_cli, tmp_path / "weights.ckpt")


def test_adapt_refuses_an_oracle_context_checkpoint(run_cli, checkpoint, tmp_path):
    oracle = torch.load(checkpoint, weights_only=True)
    oracle["hyper_parameters"]["context_source"] = "oracle"
    torch.save(oracle, tmp_path / "oracle.ckpt")
    with pytest.raises(SystemExit, match=r"oracle-context run.*eval/test_return_oracle"):
        _adapt(run_cli, tmp_path / "oracle.ckpt")


def test_bad_task_list_is_refused_before_running(run_cli, checkpoint):
    with pytest.raises(SystemExit, match=r"test tasks 0\.\.9"):
        _adapt(run_cli, checkpoint, "--tasks", "3,10")


def test_a_diverging_model_falls_back_for_its_task_only(run_cli, checkpoint, monkeypatch):
    import mier_pl.modules.adapt_module as adapt_module

    real_identify, calls = adapt_module.identify, []

    def second_task_diverges(*args, **kwargs):  # test hook: a huge model lr for the 2nd task
        if args[4] == 0:  # the context-only identification before the posterior steps
            return real_identify(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            args = (*args[:6], 1e4, *args[7:])  # model_lr
        return real_identify(*args, **kwargs)

    monkeypatch.setattr(adapt_module, "identify", second_task_diverges)
    with pytest.warns(
        UserWarning, match=r"test task 4: validation loss .*fell back to the context-only model"
    ):
        cli = _adapt(run_cli, checkpoint, "--tasks", "1,4,6")
    results = json.loads((Path(cli.trainer.log_dir) / "results.json").read_text())
    assert [t["model_fallback"] for t in results["tasks"]] == [False, True, False]
    for t in results["tasks"]:  # every task, the diverged one included, has its returns
        assert len(t["mier"]) == 2 and all(map(lambda r: abs(r) < 1e6, [t["mier_wr"], *t["mier"]]))
    diverged = results["tasks"][1]
    assert diverged["val_loss_final"] == diverged["val_loss_context"]


def test_resume_finishes_an_interrupted_run(run_cli, checkpoint, monkeypatch, tmp_path):
    """Killed in task 5's second epoch: task 0 is read back, task 5 continues from its epoch-1
    checkpoint and ends exactly as an uninterrupted run of it."""
    from mier_pl.callbacks.relabel_callback import RelabelCallback

    real_end, ends = RelabelCallback.on_train_epoch_end, []

    def killed_in_the_fourth_epoch(self, trainer, pl_module):  # task 0: 2 epochs, task 5: 1
        ends.append(1)
        if len(ends) == 4:
            raise RuntimeError("killed")
        real_end(self, trainer, pl_module)

    with monkeypatch.context() as mp:
        mp.setattr(RelabelCallback, "on_train_epoch_end", killed_in_the_fourth_epoch)
        with pytest.raises(RuntimeError, match="killed"):
            _adapt(run_cli, checkpoint, "--tasks", "0,5")
    run = tmp_path / "lightning_logs" / "point-rotated" / "adapt_0"
    done = json.loads((run / "task_00" / "result.json").read_text())
    assert not (run / "task_05" / "result.json").exists()
    resumed = _adapt(run_cli, checkpoint, "--tasks", "0,5", "--resume", run)
    assert Path(resumed.trainer.log_dir) == run
    results = json.loads((run / "results.json").read_text())
    task0, task5 = results["tasks"]
    assert task0 == done  # finished: read back, not rerun
    straight = _adapt(run_cli, checkpoint, "--tasks", "5")
    alone = json.loads((Path(straight.trainer.log_dir) / "results.json").read_text())["tasks"][0]
    assert len(task5["mier"]) == 2
    assert (task5["mier_wr"], task5["mier"]) == (alone["mier_wr"], alone["mier"])
    assert (run / "config.yaml").is_file() and (run / "config.resume-1.yaml").is_file()


def test_resume_with_other_settings_or_checkpoint_is_refused(run_cli, checkpoint, tmp_path):
    first = _adapt(run_cli, checkpoint, "--tasks", "1", "--adapt.epochs", "1")
    run = tmp_path / first.trainer.log_dir
    record = json.loads((run / "adapt_run.json").read_text())
    assert record["checkpoint_sha256"] == _sha(checkpoint) and record["settings"]["epochs"] == 1
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, checkpoint, "--tasks", "1,2", "--adapt.epochs", "2", "--resume", run)
    msg = str(exc.value)
    assert f"--resume {run} was started with other input: adapt.epochs 1 → 2." in msg
    other = tmp_path / "other.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    saved["epoch"] += 1
    torch.save(saved, other)
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, other, "--tasks", "1", "--adapt.epochs", "1", "--resume", run)
    assert f"→ {other} (sha256 " in str(exc.value) and "adapt.epochs" not in str(exc.value)
    assert sorted(p.name for p in run.glob("task_*")) == ["task_01"]  # nothing was mixed in


def test_adapt_refuses_a_model_only_checkpoint_at_once(run_cli, checkpoint, tmp_path):
    model_only = torch.load(checkpoint, weights_only=True)
    model_only["hyper_parameters"]["_class_path"] = "mier_pl.modules.MetaModelModule"
    torch.save(model_only, tmp_path / "model_only.ckpt")
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, tmp_path / "model_only.ckpt")
    assert "is from a MetaModelModule run" in str(exc.value)
    assert "has no policy to adapt" in str(exc.value)


def test_adapt_on_a_family_without_test_tasks_says_so_first(run_cli):
    with pytest.raises(SystemExit) as exc:
        run_cli("adapt", "--config", CONF / "cheetah_dir.yaml")
    assert "family 'cheetah-dir' has no test tasks" in str(exc.value)


def test_adapt_follows_default_root_dir_and_ends_with_a_summary(
    run_cli, checkpoint, tmp_path, caplog
):
    cli = _adapt(
        run_cli,
        checkpoint,
        "--tasks",
        "3",
        "--trainer.default_root_dir",
        tmp_path / "s",
        "--videos",
        "false",
    )
    result = json.loads((Path(cli.trainer.log_dir) / "results.json").read_text())["tasks"][0]
    assert (
        f"adapt done: 1 point-rotated test tasks, MIER-wR mean {result['mier_wr']:.2f}, MIER mean "
        f"{result['mier'][-1]:.2f} after 2 relabeling epochs, from {checkpoint}" in caplog.text
    )
    run = tmp_path / "s" / "lightning_logs" / "point-rotated" / "adapt_0"
    assert Path(cli.trainer.log_dir) == run and (run / "results.json").is_file()
    assert (run / "task_03" / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "lightning_logs").exists()
    assert not list((run / "task_03").glob("mier*.*"))  # --videos false


def test_adapt_refuses_a_damaged_checkpoint_in_one_line(run_cli, checkpoint, tmp_path):
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, cut)
    assert str(exc.value).startswith(f"error: checkpoint {cut} is damaged (1000 bytes")


def test_a_full_disk_during_a_tasks_checkpoint_stops_in_one_line(
    run_cli, checkpoint, tmp_path, monkeypatch
):
    import errno

    from mier_pl.data import checkpoint_io

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_io.os, "fsync", full_disk)
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, checkpoint, "--tasks", "1")
    task_dir = tmp_path / "lightning_logs" / "point-rotated" / "adapt_0" / "task_01" / "checkpoints"
    msg = str(exc.value)
    assert msg.startswith(f"error: no space left to write last.ckpt in {task_dir}: ")
    assert "no previous last.ckpt exists there yet" in msg and "\n" not in msg
    assert not list(task_dir.iterdir())  # the temporary file is gone


def test_posterior_steps_add_the_identified_policys_steps_before_identification(
    run_cli, checkpoint, monkeypatch
):
    """``adapt.posterior_steps`` P: the A steps identify φ_T̂ (context only), π(·|s, φ_T̂)
    collects P more, and the full identification and the real data are all A + P of them."""
    from mier_pl.data.relabel_replay import RelabelReplay
    from mier_pl.modules.adapt_module import AdaptModule

    seen: dict[str, list] = {"identified": [], "posterior": [], "acting": [], "real": []}
    collect, identify = AdaptModule.collect_posterior, AdaptModule.identify
    set_real = RelabelReplay.set_real

    def spy_collect(self):
        seen["acting"].append(self.context.clone())
        seen["posterior"].append(collect(self))
        return seen["posterior"][-1]

    def spy_identify(self, real):
        seen["identified"].append(real)
        return identify(self, real)

    def spy_set_real(self, batch):
        seen["real"].append(batch)
        set_real(self, batch)

    monkeypatch.setattr(AdaptModule, "collect_posterior", spy_collect)
    monkeypatch.setattr(AdaptModule, "identify", spy_identify)
    monkeypatch.setattr(RelabelReplay, "set_real", spy_set_real)
    _adapt(run_cli, checkpoint, "--tasks", "1", "--adapt.posterior_steps", "30")
    (identified,), (more,), (context,), (real,) = (seen[k] for k in seen)
    assert more.rew.shape == (30,) and real.rew.shape == identified.rew.shape == (30 + 30,)
    assert torch.equal(real.obs[30:], more.obs) and torch.equal(real.rew[30:], more.rew)
    assert torch.equal(real.obs, identified.obs)
    # the policy acted with the A steps' φ_T̂, not φ₀ (zeros), from a reset state
    assert context.abs().sum() > 0 and torch.equal(more.obs[0], real.obs[0])


def test_resume_takes_only_an_adapt_run(run_cli, checkpoint):
    fit_run = checkpoint.parents[1]
    before = sorted(p.name for p in fit_run.iterdir())
    header = (fit_run / "metrics.csv").read_text().splitlines()[0]
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, checkpoint, "--tasks", "0", "--resume", fit_run)
    assert str(exc.value) == (
        f"error: --resume {fit_run} is not an adapt run (no adapt_run.json; it holds "
        "checkpoints/, as a fit run does); pass lightning_logs/point-rotated/adapt_<n>, or "
        "leave --resume out to start a new adapt run"
    )
    assert sorted(p.name for p in fit_run.iterdir()) == before  # nothing written into it
    assert (fit_run / "metrics.csv").read_text().splitlines()[0] == header


def test_an_empty_task_list_is_refused_not_taken_as_all(run_cli, checkpoint, tmp_path):
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, checkpoint, "--tasks", "")
    assert str(exc.value) == (
        "error: --tasks '' names no test task; pass indices like 0,3,7, or leave --tasks out "
        "to adapt to all 10"
    )
    assert not (tmp_path / "lightning_logs").exists()


def test_a_resume_with_other_tasks_keeps_the_finished_ones(run_cli, checkpoint, tmp_path):
    first = _adapt(run_cli, checkpoint, "--tasks", "0,1", "--adapt.epochs", "1")
    run = tmp_path / first.trainer.log_dir
    done = json.loads((run / "results.json").read_text())["tasks"]
    _adapt(run_cli, checkpoint, "--tasks", "2", "--adapt.epochs", "1", "--resume", run)
    tasks = json.loads((run / "results.json").read_text())["tasks"]
    assert [t["task"] for t in tasks] == [0, 1, 2]
    assert tasks[:2] == done  # read back as they were
    rows = (run / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:4]] == ["0", "1", "2"]


def test_adapt_refuses_a_checkpoint_with_non_finite_weights(run_cli, checkpoint, tmp_path):
    saved = torch.load(checkpoint, weights_only=True)
    name, weight = next(iter(saved["state_dict"].items()))
    weight.view(-1)[:3] = float("nan")
    torch.save(saved, tmp_path / "nan.ckpt")
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, tmp_path / "nan.ckpt")
    assert str(exc.value).startswith(
        f"error: checkpoint {tmp_path / 'nan.ckpt'} holds 3 non-finite value(s) in "
        f"state_dict.{name}: it is damaged"
    )


def _adapt_cmd(ckpt: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mier_pl",
        "adapt",
        "--config",
        str(CONF / "point_rotated.yaml"),
        "--config",
        str(DEBUG),
        "--trainer.enable_progress_bar",
        "false",
        "--ckpt_path",
        str(ckpt),
        "--adapt.epochs",
        "1",
        *extra,
    ]


def test_two_adapts_started_together_get_their_own_runs_and_sigint_names_the_resume(
    checkpoint, tmp_path
):
    """Two real processes: each gets its own adapt_<n> (both took adapt_0 and one crashed on
    CSV fieldnames); Ctrl-C stops one with exit 130, naming the finished tasks and the exact
    command, which then finishes the run with every task in its results."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    a = subprocess.Popen(
        _adapt_cmd(checkpoint, "--tasks", "0,1,2,3,4,5"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    b = subprocess.Popen(
        _adapt_cmd(checkpoint, "--tasks", "0"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, b_err = b.communicate(timeout=300)
    assert b.returncode == 0, b_err[-2000:]
    runs = tmp_path / "lightning_logs" / "point-rotated"
    deadline = time.time() + 300
    while a.poll() is None and time.time() < deadline:
        if len(list(runs.glob("adapt_*/task_*/result.json"))) >= 2:  # b's and a's first
            break
        time.sleep(0.2)
    a.send_signal(signal.SIGINT)
    _, a_err = a.communicate(timeout=300)
    assert a.returncode == 128 + signal.SIGINT, a_err[-2000:]
    assert sorted(p.name for p in runs.iterdir()) == ["adapt_0", "adapt_1"]
    (a_run,) = [r for r in runs.iterdir() if not (r / "results.json").is_file()]  # stopped
    stop = next(ln for ln in a_err.splitlines() if ln.startswith("adapt stopped by SIGINT"))
    assert f"finished tasks are in {a_run.relative_to(tmp_path)}/task_<i>/result.json" in stop
    command = stop.split("resume with: ", 1)[1].split()
    assert command[-2] == "--resume"
    out = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    tasks = json.loads((a_run / "results.json").read_text())["tasks"]
    assert [t["task"] for t in tasks] == [0, 1, 2, 3, 4, 5]


def test_sigterm_in_a_task_exits_143_naming_its_checkpoint_and_the_resume(
    run_cli, checkpoint, monkeypatch, tmp_path, capsys
):
    """Lightning alone exited 0 on SIGTERM, so `fit && adapt` and reproduce took a stopped
    adapt for a finished one."""
    from mier_pl.callbacks.relabel_callback import RelabelCallback

    real_end = RelabelCallback.on_train_epoch_end

    def terminated_after_the_first_epoch(self, trainer, pl_module):
        real_end(self, trainer, pl_module)
        os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler stops a job

    monkeypatch.setattr(RelabelCallback, "on_train_epoch_end", terminated_after_the_first_epoch)
    with pytest.raises(SystemExit) as exc:
        _adapt(run_cli, checkpoint, "--tasks", "4,5", "--adapt.epochs", "2")
    assert exc.value.code == 128 + signal.SIGTERM
    run = Path("lightning_logs") / "point-rotated" / "adapt_0"
    assert not (tmp_path / run / "task_04" / "result.json").exists()  # not marked done
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "stopped by" in ln]
    assert line.startswith(
        f"adapt stopped by SIGTERM: finished tasks are in {run}/task_<i>/result.json; task 4's "
        f"last epoch is in {run}/task_04/checkpoints/last.ckpt; resume with: python -m mier_pl "
        "adapt --config "
    )
    assert line.endswith(f"--tasks 4,5 --adapt.epochs 2 --resume {run}")
