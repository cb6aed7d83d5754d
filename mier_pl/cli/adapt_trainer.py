"""The ``adapt`` subcommand: Algorithm 2 (docs/algorithm.md §6) on every test task of a family.

``python -m mier_pl adapt --config conf/<family>.yaml --ckpt_path <meta-trained last.ckpt>``

:class:`MIERTrainer` is Lightning's ``Trainer`` plus an :meth:`~MIERTrainer.adapt` method;
LightningCLI turns its signature into the subcommand's arguments (the same mechanism as
``fit``). For each test task a fresh copy of the checkpoint's MIER is wrapped in an
:class:`~mier_pl.modules.adapt_module.AdaptModule` and trained by its own ``Trainer`` with a
:class:`~mier_pl.callbacks.relabel_callback.RelabelCallback`. The checkpoint file is only read.

A run writes ``lightning_logs/<family>/adapt_<n>/``: ``results.{csv,json}``, ``returns.png``,
``comparison.png``, TensorBoard/CSV logs of the summary, ``adapt_run.json`` (the checkpoint's
SHA-256 and the settings) and ``task_<i>/`` with each task's logs, ``result.json`` and
``checkpoints/last.ckpt`` (so ``--resume`` can pick an interrupted run up: finished tasks are
read back, an unfinished one continues from its last epoch; a resume with another checkpoint
or other settings is refused, so one run's results never mix two).

Like ``cli/main.py`` this is the top of the import graph: it alone joins modules and callbacks.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import math
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mier_pl.analysis.results import (
    AdaptResults,
    TaskResult,
    dump_task,
    load_task,
    print_summary,
    task_videos,
    write_plots,
    write_results,
)
from mier_pl.callbacks.relabel_callback import RelabelCallback
from mier_pl.cli.loggers import TensorBoardCSVLogger
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.checkpoint_io import AtomicCheckpointIO, check_intact, read_checkpoint
from mier_pl.data.datamodule import ReplayDataModule
from mier_pl.data.relabel_replay import AdaptConfig
from mier_pl.data.rollout import Collector
from mier_pl.envs.meta_env import describe_task
from mier_pl.fast.hook_dispatch import NullProfiler
from mier_pl.modules.adapt_module import AdaptModule, PEARLRelabelModule
from mier_pl.modules.base import check_checkpoint_family
from mier_pl.modules.mier import MIERModule
from mier_pl.modules.pearl import PEARLModule

TASK_RESULT = "result.json"
RUN_RECORD = "adapt_run.json"
ADDED_SETTINGS = {"method": "auto"}  # AdaptConfig fields newer than some recorded runs


# ------------------------------------------------------------------ checks
def find_checkpoints(family: str, root: str | Path = ".") -> list[Path]:
    """Meta-training checkpoints of ``family`` under ``root/lightning_logs``, newest first."""
    found = Path(root, "lightning_logs", family).glob("version_*/checkpoints/last.ckpt")
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def missing_checkpoint_message(family: str, given: str | None, root: str | Path = ".") -> str:
    found = find_checkpoints(family, root)
    hint = (
        "found: " + ", ".join(str(p) for p in found[:3])
        if found
        else f"none found under {Path(root, 'lightning_logs', family)}; meta-train one first with "
        f"`python -m mier_pl fit --config conf/<{family} config>.yaml`"
    )
    what = (
        f"checkpoint {given} does not exist" if given else "adapt needs a meta-trained checkpoint"
    )
    return (
        f"{what}; pass --ckpt_path with the last.ckpt of a {family} fit run "
        f"(lightning_logs/{family}/version_<n>/checkpoints/last.ckpt) — {hint}"
    )


def check_adapt_checkpoint(
    checkpoint: dict, path: str, family: str, obs_dim: int, act_dim: int
) -> None:
    """Raise ``ValueError`` naming the fix unless ``checkpoint`` is a meta-trained run of
    ``family`` that holds its train replay (the relabeling source)."""
    check_checkpoint_family(checkpoint, family, obs_dim, act_dim, path)
    trained = (checkpoint.get("hyper_parameters") or {}).get("_class_path", "")
    if trained and not trained.endswith((".MIERModule", ".PEARLModule")):
        raise ValueError(
            f"checkpoint {path} is from a {trained.rsplit('.', 1)[-1]} run, which meta-trains the "
            "model alone and has no policy to adapt; pass the last.ckpt of a MIER fit run "
            "(without conf/model_only.yaml)"
        )
    if (checkpoint.get("hyper_parameters") or {}).get("context_source") == "oracle":
        raise ValueError(
            f"checkpoint {path} is an oracle-context run: its policy is told the test task, so "
            "there is nothing to adapt; its test return is the fit's eval/test_return_oracle. "
            "Pass the last.ckpt of a MIER run (context_source 'adapted')"
        )
    replay = (checkpoint.get("ReplayDataModule") or {}).get("replay")
    if not replay or int(replay["added"].sum()) == 0:
        raise ValueError(
            f"checkpoint {path} holds no replay buffers, and relabeling needs the train tasks' "
            f"transitions; pass the last.ckpt that `fit` wrote for a {family} run "
            f"(lightning_logs/{family}/version_<n>/checkpoints/last.ckpt), not a weights-only file"
        )
    check_intact(checkpoint, path, parts=("state_dict", "ReplayDataModule"))


def parse_tasks(spec: str | int | None, num_test_tasks: int, family: str) -> list[int]:
    """``"0,3,7"`` (or None: all) → test-task indices, checked against the family's count."""
    if num_test_tasks == 0:
        raise ValueError(
            f"family {family!r} has no test tasks, and adapt runs on test tasks (docs/algorithm.md §6); "
            "pick a family with test tasks (README, Task families)"
        )
    if spec is None:
        return list(range(num_test_tasks))
    if not str(spec).strip():  # `--tasks ''` (an unset shell variable) is no task, not all
        raise ValueError(
            f"--tasks {spec!r} names no test task; pass indices like 0,3,7, or leave --tasks "
            f"out to adapt to all {num_test_tasks}"
        )
    try:
        ids = [int(s) for s in str(spec).split(",") if s.strip()]
    except ValueError:
        raise ValueError(
            f"--tasks takes comma-separated test-task indices like 0,3,7; got {spec!r}"
        ) from None
    bad = [i for i in ids if not 0 <= i < num_test_tasks]
    if bad or not ids:
        raise ValueError(f"--tasks {spec}: {family} has test tasks 0..{num_test_tasks - 1}")
    return list(dict.fromkeys(ids))


@functools.lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_record(ckpt_path: str | Path, family: str, settings: AdaptConfig) -> dict[str, Any]:
    """What makes an adapt run's tasks comparable: the family, the checkpoint (by content, so a
    moved file still matches and a rewritten one does not) and Algorithm 2's settings."""
    stat = Path(ckpt_path).stat()
    return {
        "family": family,
        "checkpoint": str(ckpt_path),
        "checkpoint_sha256": _sha256(
            str(Path(ckpt_path).resolve()), stat.st_size, stat.st_mtime_ns
        ),
        "settings": settings.as_dict(),
    }


def check_resume(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming every difference when ``run_dir`` was started with another
    checkpoint, family or settings than ``record``, or is not an adapt run at all (a ``fit``
    run, whose ``metrics.csv`` and configs an adapt would otherwise overwrite)."""
    path = Path(run_dir) / RUN_RECORD
    if not path.is_file() or (Path(run_dir) / "checkpoints").is_dir():
        raise ValueError(
            f"--resume {run_dir} is not an adapt run (no {RUN_RECORD}"
            + (
                "; it holds checkpoints/, as a fit run does"
                if (Path(run_dir) / "checkpoints").is_dir()
                else ""
            )
            + f"); pass lightning_logs/{record['family']}/adapt_<n>, or leave --resume out to "
            "start a new adapt run"
        )
    saved = json.loads(path.read_text())
    diffs = []
    if saved.get("family") != record["family"]:
        diffs.append(f"family {saved.get('family')!r} → {record['family']!r}")
    if saved.get("checkpoint_sha256") != record["checkpoint_sha256"]:
        diffs.append(
            f"checkpoint {saved.get('checkpoint')} (sha256 {str(saved.get('checkpoint_sha256'))[:12]}) "
            f"→ {record['checkpoint']} (sha256 {record['checkpoint_sha256'][:12]})"
        )
    # Settings added since a run was started take their default (the behaviour it ran with).
    old, new = {**ADDED_SETTINGS, **saved.get("settings", {})}, record["settings"]
    diffs += [
        f"adapt.{k} {old.get(k)!r} → {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    if diffs:
        raise ValueError(
            f"--resume {run_dir} was started with other input: {'; '.join(diffs)}. Resume it "
            f"with the checkpoint and settings recorded in {path}, or start a new adapt run "
            "(without --resume)"
        )


def next_run_version(root: str | Path) -> str:
    """``adapt_<n>`` with ``n`` one past the largest under ``root`` (``lightning_logs/<family>``)."""
    taken = [
        int(m.group(1))
        for p in Path(root).glob("adapt_*")
        if (m := re.fullmatch(r"adapt_(\d+)", p.name))
    ]
    return f"adapt_{max(taken, default=-1) + 1}"


class AdaptInterrupted(Exception):
    """SIGTERM or SIGINT stopped ``adapt`` at test task ``task``; finished tasks are on disk."""

    def __init__(self, signum: int, run_dir: Path, task: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} at test task {task}")
        self.signum, self.run_dir, self.task = signum, run_dir, task


class _SigtermFlag(contextlib.AbstractContextManager):
    """Note a SIGTERM instead of dying at once: inside a task Lightning's handler (which calls
    this one too) stops the task's Trainer after its current batch; between tasks the loop
    stops before the next one. Either way ``adapt`` exits through :class:`AdaptInterrupted`."""

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def __enter__(self) -> _SigtermFlag:
        if threading.current_thread() is threading.main_thread():  # signals are main-thread only
            self._previous = signal.signal(signal.SIGTERM, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.received = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


@contextlib.contextmanager
def _quiet_lightning():
    """Hide the per-task Trainers' start-up and stop notices (INFO); warnings still show."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


# ----------------------------------------------------------------- trainer
class MIERTrainer(Trainer):
    """Lightning's ``Trainer`` with ``adapt``, the test-time entry point; ``fit`` is untouched."""

    def adapt(
        self,
        model: LightningModule,
        datamodule: ReplayDataModule,
        ckpt_path: str | None = None,
        tasks: str | None = None,
        resume: str | None = None,
        settings: AdaptConfig | None = None,
        videos: bool = True,
    ) -> AdaptResults:
        """Adapt a meta-trained MIER to test tasks with experience relabeling (Algorithm 2).

        Args:
            model: a ``MIERModule`` of the checkpoint's architecture (its weights are loaded).
            datamodule: the family's ``ReplayDataModule`` (its envs; the replay is loaded).
            ckpt_path: the meta-trained ``last.ckpt`` of a ``fit`` run of this family.
            tasks: comma-separated test-task indices, e.g. ``0,3,7`` (default: all).
            resume: directory of an interrupted adapt run (``lightning_logs/<family>/adapt_<n>``)
                to finish: finished tasks are read back, an unfinished one continues from its
                last completed epoch.
            settings: Algorithm 2's settings (the config's ``adapt:`` group).
            videos: film each task's MIER-wR episode and its episode after the last
                relabeling epoch into ``task_<i>/mier_wr.mp4`` and ``task_<i>/mier.mp4`` (GIF
                without imageio-ffmpeg; size: the model's ``eval.video_width/height``).
        """
        settings = settings or AdaptConfig()
        dm = datamodule
        if not ckpt_path or not Path(ckpt_path).is_file():
            raise ValueError(missing_checkpoint_message(dm.family, ckpt_path))
        record = run_record(ckpt_path, dm.family, settings)
        if resume:
            check_resume(resume, record)
        checkpoint = read_checkpoint(ckpt_path)
        check_adapt_checkpoint(checkpoint, str(ckpt_path), dm.family, dm.obs_dim, dm.act_dim)
        task_ids = parse_tasks(tasks, dm.num_test_tasks, dm.family)
        if not isinstance(model, (MIERModule, PEARLModule)):
            raise TypeError(
                f"adapt needs a MIERModule or PEARLModule checkpoint, got {type(model).__name__}"
            )
        method = "mier"
        if isinstance(model, PEARLModule):
            method = "pearl_relabel" if settings.method == "relabel" else "pearl"
        model.load_state_dict(checkpoint["state_dict"])
        device = self.strategy.root_device
        replay_state = checkpoint["ReplayDataModule"]["replay"]
        source = MultiTaskReplay(
            dm.num_train_tasks, dm.obs_dim, dm.act_dim, int(replay_state["capacity"]), device
        )
        source.load_state_dict(replay_state)
        del checkpoint

        run_dir = Path(resume) if resume else self._run_dir(dm.family)
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.is_global_zero and not (run_dir / RUN_RECORD).is_file():
            (run_dir / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        results = AdaptResults(dm.family, str(ckpt_path), settings.as_dict(), method=method)
        base_seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        self._current_task = task_ids[0]
        with _SigtermFlag() as sigterm:
            try:
                self._adapt_tasks(
                    model,
                    dm,
                    source,
                    settings,
                    task_ids,
                    run_dir,
                    results,
                    method,
                    base_seed,
                    resume,
                    videos,
                    sigterm,
                )
            except (KeyboardInterrupt, SystemExit) as err:  # Lightning exits 1 after Ctrl-C
                got = (
                    signal.SIGTERM
                    if sigterm.received or isinstance(err, SIGTERMException)
                    else signal.SIGINT
                )
                raise AdaptInterrupted(got, run_dir, self._current_task) from None
        if resume:  # tasks finished by earlier calls with other --tasks stay in the results
            have = {t.task for t in results.tasks}
            for done in sorted(run_dir.glob(f"task_*/{TASK_RESULT}")):
                task = load_task(done.read_text())
                if task.task not in have:
                    results.tasks.append(task)
            results.tasks.sort(key=lambda t: t.task)
        os.environ["PL_GLOBAL_SEED"] = str(base_seed)  # the per-task seeding changed it
        self._report(results, run_dir)
        return results

    def _adapt_tasks(
        self,
        model: MIERModule | PEARLModule,
        dm: ReplayDataModule,
        source: MultiTaskReplay,
        settings: AdaptConfig,
        task_ids: list[int],
        run_dir: Path,
        results: AdaptResults,
        method: str,
        base_seed: int,
        resume: str | None,
        videos: bool,
        sigterm: _SigtermFlag,
    ) -> None:
        """Each task of ``task_ids`` in turn, a finished one (on a resume) read back."""
        for i in task_ids:
            self._current_task = i
            if sigterm.received:
                raise SIGTERMException
            task_dir = run_dir / f"task_{i:02d}"
            done = task_dir / TASK_RESULT
            if resume and done.is_file():
                results.tasks.append(load_task(done.read_text()))
                continue
            if method == "pearl":
                result = self._pearl_task(model, dm, i, base_seed)
            else:
                result = self._adapt_task(
                    model, dm, source, settings, i, task_dir, base_seed, bool(resume), videos
                )
            task_dir.mkdir(parents=True, exist_ok=True)
            done.write_text(dump_task(result))
            results.tasks.append(result)
            before, after = results.labels
            rank_zero_info(
                f"{dm.family} test task {i} ({result.description}): {before} {result.mier_wr:.2f}, "
                f"{after} {result.final:.2f} after {len(result.mier)} relabeling epochs ({result.seconds:.1f}s)"
            )
            if result.model_fallback:
                rank_zero_warn(f"{dm.family} test task {i}: {result.model_report}")

    # ------------------------------------------------------------- per task
    def _pearl_task(
        self, pearl: PEARLModule, dm: ReplayDataModule, index: int, base_seed: int
    ) -> TaskResult:
        """PEARL's evaluation protocol on test task ``index`` (its fit-time evaluation)."""
        start = time.perf_counter()
        pl.seed_everything(base_seed + index, verbose=False)
        device = self.strategy.root_device
        collector = Collector(dm.family, dm.family_seed, base_seed + 1000 * (index + 1), device)
        task = collector.test_tasks[index]
        module = pearl.to(device).eval()
        with torch.no_grad():
            value = float(module.evaluate_tasks(collector, [task], 0)[0])
        return TaskResult(
            task=index,
            description=describe_task(task),
            mier_wr=value,
            mier=[],
            seconds=time.perf_counter() - start,
        )

    def _adapt_task(
        self,
        mier: MIERModule | PEARLModule,
        dm: ReplayDataModule,
        source: MultiTaskReplay,
        settings: AdaptConfig,
        index: int,
        task_dir: Path,
        base_seed: int,
        resume: bool = False,
        videos: bool = False,
    ) -> TaskResult:
        """Algorithm 2 on test task ``index`` from a fresh copy of the meta-trained module."""
        start = time.perf_counter()
        # Per-task seeds: a task's result does not depend on which tasks ran before it.
        pl.seed_everything(base_seed + index, verbose=False)
        device = self.strategy.root_device
        collector = Collector(
            dm.family, dm.family_seed, base_seed + 1000 * (index + 1), device, dm.horizon
        )
        task = collector.test_tasks[index]
        kind = PEARLRelabelModule if isinstance(mier, PEARLModule) else AdaptModule
        module = kind(
            copy.deepcopy(mier),
            collector,
            source,
            dm.termination_fn,
            task,
            settings,
            dm.reward_only,
            video_dir=task_dir if videos and self.is_global_zero else None,
            video_title=f"{dm.family} test task {index}",
        )
        callback = RelabelCallback(settings)
        # last.ckpt after every epoch (save_top_k=1 without a monitor keeps just the newest; a
        # save_last-only ModelCheckpoint would write it only when the task ends).
        checkpoints = ModelCheckpoint(
            dirpath=task_dir / "checkpoints",
            filename="last",
            save_top_k=1,
            every_n_epochs=1,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        )
        callbacks: list[pl.Callback] = [callback, checkpoints]
        show_bar = self.progress_bar_callback is not None
        if show_bar:
            callbacks.append(RichProgressBar(leave=True))
        with _quiet_lightning():
            trainer = Trainer(
                accelerator=self.accelerator,
                devices=[device.index] if device.index is not None else 1,
                precision=self.precision,
                max_epochs=settings.epochs,
                logger=self._task_logger(task_dir),
                callbacks=callbacks,
                enable_progress_bar=show_bar,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                log_every_n_steps=self.log_every_n_steps,
                default_root_dir=str(task_dir),
                plugins=[AtomicCheckpointIO()],
                profiler=NullProfiler(),
            )
            last = task_dir / "checkpoints" / "last.ckpt"
            trainer.fit(module, ckpt_path=str(last) if resume and last.is_file() else None)
        report = callback.report
        return TaskResult(
            task=index,
            description=describe_task(task),
            mier_wr=callback.returns[0],
            mier=callback.returns[1:],
            model_fallback=bool(report["diverged"]),
            model_report=report["reason"],
            gate_open=bool(report["gate_open"]),
            val_loss_context=float(report["val_loss_context"]),
            val_loss_final=float(
                report["val_loss_context"]
                if report["diverged"] or not report["val_losses"]
                else report["val_losses"][-1]
            ),
            seconds=time.perf_counter() - start,
            mier_wr_success=callback.successes[0] if callback.successes else None,
            mier_success=callback.successes[1:],
        )

    # ------------------------------------------------------------- logging
    def _run_dir(self, family: str) -> Path:
        if isinstance(self.logger, TensorBoardCSVLogger):
            return Path(self.logger.log_dir)
        root = Path(self.default_root_dir, "lightning_logs", family)
        return root / next_run_version(root)

    def _task_logger(self, task_dir: Path) -> TensorBoardCSVLogger | bool:
        """Each task is its own TensorBoard run, ``adapt_<n>/task_<i>``, beside the summary."""
        if not isinstance(self.logger, TensorBoardCSVLogger):
            return False
        run = self.logger
        return TensorBoardCSVLogger(
            save_dir=run.save_dir,
            name=run.name,
            version=f"{run.version}/{task_dir.name}",
            default_hp_metric=False,
        )

    @rank_zero_only
    def _report(self, results: AdaptResults, run_dir: Path) -> None:
        write_results(results, run_dir)
        write_plots(results, run_dir)
        if self.logger is not None:
            summary = results.summary()
            self.logger.log_metrics(
                {
                    "adapt/mier_wr_mean": summary["mier_wr_mean"],
                    "adapt/mier_mean": summary["mier_mean"],
                },
                step=0,
            )
            for t in results.tasks:
                self.logger.log_metrics(
                    {
                        f"adapt/mier_wr/task_{t.task}": t.mier_wr,
                        f"adapt/mier/task_{t.task}": t.final,
                    },
                    step=0,
                )
            rates = {f"adapt/{k}": v for k, v in summary.items() if k.startswith("mier_wr_success")}
            rates |= {f"adapt/{k}": v for k, v in summary.items() if k == "mier_success_rate"}
            if rates:
                self.logger.log_metrics(rates, step=0)
            successes = [[t.mier_wr_success, *t.mier_success] for t in results.tasks]
            for epoch in range(max(map(len, successes), default=0)):
                values = [c[epoch] for c in successes if epoch < len(c) and c[epoch] is not None]
                if values:  # MIER's success per relabeling epoch (0 = MIER-wR)
                    self.logger.log_metrics(
                        {"adapt/success_rate": sum(values) / len(values)}, step=epoch
                    )
            curves = [[t.mier_wr, *t.mier] for t in results.tasks]
            for epoch in range(max(map(len, curves), default=0)):
                values = [c[epoch] for c in curves if epoch < len(c)]
                self.logger.log_metrics(
                    {"adapt/return_mean": sum(values) / len(values)}, step=epoch
                )
            self.logger.save()
        print_summary(results)
        files = ", ".join(
            n for n in ("results.csv", "results.json", "returns.png", "comparison.png")
        )
        summary = results.summary()
        epochs = max((len(t.mier) for t in results.tasks), default=0)
        rank_zero_info(
            f"adapt done{'' if results.method == 'mier' else f' ({results.method})'}: "
            f"{summary['tasks']} {results.family} test tasks, "
            f"{results.labels[0]} mean {summary['mier_wr_mean']:.2f}, {results.labels[1]} mean "
            f"{summary['mier_mean']:.2f} after {epochs} "
            f"relabeling epochs, from {results.checkpoint}"
        )
        if "mier_wr_success_rate" in summary:
            rank_zero_info(
                f"success rate: MIER-wR {summary['mier_wr_success_rate']:.2f}, MIER "
                f"{summary.get('mier_success_rate', math.nan):.2f}"
            )
        videos = task_videos(run_dir)
        filmed = (
            f", videos in task_<i>/: {', '.join(p.name for p in next(iter(videos.values())).values())}"
            if videos
            else ""
        )
        rank_zero_info(
            f"adapt results in {run_dir}: {files}; per-task checkpoints in task_<i>/checkpoints/"
            + filmed
        )


def adapt_kwargs(cfg: Any) -> dict[str, Any]:
    """The ``settings`` argument from a parsed ``adapt`` config (the top-level ``adapt:`` group)."""
    value = cfg.get("adapt")
    return {
        "settings": value if isinstance(value, AdaptConfig) else AdaptConfig(**dict(value or {}))
    }
