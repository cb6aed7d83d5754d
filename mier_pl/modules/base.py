"""Algorithm 1's outer wiring shared by MIER and the model-only module.

Exploration before training, the epoch's collection, evaluation on train and test tasks and
throughput logging. What acts (SAC or a random policy) and what adapts (the meta-model) come
from the subclass.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from mier_pl.data.algorithm import (
    Adapt,
    Policy,
    collect_epoch,
    evaluate,
    explore,
    random_policy,
)
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.checkpoint_io import (
    FIT_PARTS,
    check_intact,
    check_optimizer_layout,
    optimizer_layout,
)
from mier_pl.data.datamodule import ReplayDataModule
from mier_pl.data.rollout import Collector
from mier_pl.data.video import EpisodeRecorder, log_videos
from mier_pl.envs.meta_env import describe_task
from mier_pl.fast.hook_dispatch import PlainHookName
from mier_pl.functional.probe import Identification
from mier_pl.modules.common import CollectConfig, EvalConfig, clip_pending_gradients, spread_indices
from mier_pl.modules.diagnostics import identification_metrics


class MetaTrainingModule(PlainHookName, pl.LightningModule):
    """Base of the ``fit`` targets; subclasses set ``collect_cfg``, ``eval_cfg`` and implement
    :meth:`policy`, :attr:`prior_context`, :meth:`acting_context` and :meth:`identify_tasks`."""

    collect_cfg: CollectConfig
    eval_cfg: EvalConfig
    test_return_key: str = "eval/test_return_mier_wr"

    def policy(self) -> Policy:
        raise NotImplementedError

    @property
    def data(self) -> ReplayDataModule:
        dm = self.trainer.datamodule
        if not isinstance(dm, ReplayDataModule) or dm.buffer is None:
            raise RuntimeError(
                f"{type(self).__name__} needs a set-up ReplayDataModule (--data); got {type(dm).__name__}"
            )
        return dm

    @property
    def prior_context(self) -> Tensor:
        """The context the policy acts with before adaptation, φ₀ ``[1, dim]``."""
        raise NotImplementedError

    def adaptation_policy(self, policy: Policy | None = None) -> Policy:
        """What acts while adaptation data is gathered (``collect.adaptation_policy``):
        uniform random actions, or ``policy`` (default: :meth:`policy`) with φ₀."""
        if self.collect_cfg.adaptation_policy == "uniform":
            return random_policy(self.hparams["act_dim"])
        return policy or self.policy()

    def acting_context(self, tasks: Sequence[Any], collector: Collector) -> Adapt:
        """How the context the policy acts with in ``tasks`` is found from adaptation data."""
        raise NotImplementedError

    def evaluate_tasks(
        self,
        collector: Collector,
        tasks: Sequence[Any],
        adapt_steps: int,
        record: Mapping[int, EpisodeRecorder] | None = None,
    ) -> np.ndarray:
        """Spec §4.2c on ``tasks``: A steps of adaptation data, adapt, one deterministic
        episode each; the returns ``[tasks]``. Training's evaluation and
        ``python -m mier_pl evaluate`` both call this. ``record`` (slot → recorder) films
        those tasks' deterministic episodes."""
        policy = self.policy()
        returns, _ = evaluate(
            collector,
            tasks,
            policy,
            self.prior_context,
            self.acting_context(tasks, collector),
            adapt_steps,
            self.adaptation_policy(policy),
            record,
        )
        return returns

    def identify_tasks(
        self, collector: Collector, tasks: Sequence[Any], adapt_steps: int
    ) -> Identification:
        """The identification diagnostics' view of ``tasks`` (:mod:`mier_pl.modules.diagnostics`):
        the context found from A = ``adapt_steps`` steps of adaptation data as
        :meth:`evaluate_tasks` finds it (no episode), with the model's errors where there is
        a model (:meth:`~mier_pl.modules.meta_model.MetaModelModule.identification`)."""
        raise NotImplementedError

    def collection_replay(self, initial: bool) -> MultiTaskReplay:
        """Where collection writes: the initial exploration (``initial``) and each epoch's."""
        del initial
        return self.data.buffer

    def should_eval(self, epoch: int) -> bool:
        """Evaluate after epochs interval−1, 2·interval−1, … and after the last epoch (by
        ``max_epochs`` or by the env-step budget)."""
        k = self.eval_cfg.interval
        last = self.trainer.max_epochs is not None and epoch == self.trainer.max_epochs - 1
        return k > 0 and ((epoch + 1) % k == 0 or last or self._budget_spent)

    @property
    def _budget_spent(self) -> bool:
        budget = self.collect_cfg.max_env_steps
        return budget is not None and getattr(self, "_env_steps_total", 0.0) >= budget

    def should_render(self, epoch: int) -> bool:
        """Videos at evaluations video_every, 2·video_every, … and at the last epoch's
        (``eval.video_every``; 0 never), on the global-zero process only."""
        e = self.eval_cfg
        if e.video_every == 0 or e.interval == 0 or not self.trainer.is_global_zero:
            return False
        last = self.trainer.max_epochs is not None and epoch == self.trainer.max_epochs - 1
        regular = (epoch + 1) % e.interval == 0 and ((epoch + 1) // e.interval) % e.video_every == 0
        return last or regular

    # ---------------------------------------------------------------- hooks
    def on_fit_start(self) -> None:
        # Lightning restores the optimisers after this hook; refuse a foreign layout first.
        if resumed := self.__dict__.pop("_resumed_layout", None):
            check_optimizer_layout(resumed[0], self.trainer.optimizers, resumed[1])
        dm, c = self.data, self.collect_cfg
        if int(dm.buffer.added.sum()) == 0:  # a resumed run has its buffers back already
            t0 = time.perf_counter()
            stats = explore(
                dm.collector,
                self.collection_replay(initial=True),
                self.adaptation_policy(),
                self.prior_context,
                c.initial_exploration_repeats,
                c.prior_steps,
                c.tasks_per_epoch,
            )
            self.print(
                f"initial exploration: {stats.env_steps} env steps in "
                f"{time.perf_counter() - t0:.1f}s over {dm.num_train_tasks} train tasks"
            )
            self.after_initial_exploration()

    def after_initial_exploration(self) -> None:
        """What a fresh run does once the initial exploration is in (nothing by default;
        a resumed run has done it already)."""

    def on_train_epoch_start(self) -> None:
        dm, c = self.data, self.collect_cfg
        t0 = time.perf_counter()
        task_ids = torch.randint(dm.num_train_tasks, (c.tasks_per_epoch,)).tolist()
        policy = self.policy()  # once per collection phase (a CPU copy with act_on cpu)
        stats = collect_epoch(
            dm.collector,
            self.collection_replay(initial=False),
            task_ids,
            policy,
            self.prior_context,
            self.acting_context([dm.collector.train_tasks[i] for i in task_ids], dm.collector),
            c.prior_steps,
            c.posterior_steps,
            self.adaptation_policy(policy),
        )
        now = time.perf_counter()
        self._train_start = now
        self._collect_rate = stats.env_steps / max(now - t0, 1e-9)
        if stats.episode_returns:  # (sum, count) of the last epoch that finished episodes
            self._train_returns = (float(np.sum(stats.episode_returns)), len(stats.episode_returns))

    def on_train_epoch_end(self) -> None:
        dm = self.data
        elapsed = max(time.perf_counter() - self._train_start, 1e-9)
        # Under DDP: rates and returns are averaged over ranks, env steps summed (all samples).
        self.log("perf/env_steps_per_s", self._collect_rate, sync_dist=True)
        self.log("perf/updates_per_s", dm.steps_per_epoch / elapsed, sync_dist=True)
        self.log(
            "progress/env_steps",
            float(dm.collector.env_steps),
            prog_bar=True,
            sync_dist=True,
            reduce_fx="sum",
        )
        if self.collect_cfg.max_env_steps is not None:  # every rank reduces, all agree
            steps = torch.tensor(float(dm.collector.env_steps), device=self.device)
            self._env_steps_total = float(self.trainer.strategy.reduce(steps, reduce_op="sum"))
            if self._budget_spent:
                self.trainer.should_stop = True
                self.print(
                    f"env-step budget reached: {self._env_steps_total:.0f} of "
                    f"{self.collect_cfg.max_env_steps} (model.init_args.collect.max_env_steps)"
                )
        # Every rank reduces, finished episodes or not, and all then agree on whether to log: a
        # log with sync_dist on some ranks only issues different collectives (an NCCL hang).
        total, count = self.trainer.strategy.reduce(
            torch.tensor(getattr(self, "_train_returns", (0.0, 0)), device=self.device),
            reduce_op="sum",
        ).tolist()
        if count > 0:  # the mean over every rank's episodes
            self.log("train/episode_return", total / count, prog_bar=True, sync_dist=True)
        if self.should_eval(self.current_epoch):
            self.run_evaluation(videos=self.should_render(self.current_epoch))

    @torch.no_grad()
    def run_evaluation(self, videos: bool = False) -> dict[str, np.ndarray]:
        """Spec §4.2c on the chosen train tasks and on the test tasks (MIER-wR); with
        ``videos``, the episodes of ``eval.video_tasks`` tasks per split are rendered and
        logged (:mod:`mier_pl.data.video`)."""
        dm, e = self.data, self.eval_cfg
        results: dict[str, np.ndarray] = {}
        clips: dict[str, EpisodeRecorder] = {}
        for split, count, key in (
            ("train", e.train_tasks, "eval/train_return"),
            ("test", e.test_tasks, self.test_return_key),
        ):
            all_tasks = dm.collector.train_tasks if split == "train" else dm.collector.test_tasks
            ids = spread_indices(len(all_tasks), count)
            if not ids:
                continue
            tasks = [all_tasks[i] for i in ids]
            dm.collector.last_success = None
            record = {
                slot: EpisodeRecorder(
                    f"{dm.family} {split} task {ids[slot]}",
                    describe_task(tasks[slot]),
                    width=e.video_width,
                    height=e.video_height,
                )
                for slot in (spread_indices(len(ids), e.video_tasks) if videos else [])
            }
            returns = self.evaluate_tasks(
                dm.collector, tasks, e.adapt_steps or dm.batch_size, record
            )
            clips.update({f"eval_video/{split}_task_{ids[k]}": r for k, r in record.items()})
            results[split] = returns
            self.log(key, float(returns.mean()), prog_bar=True, sync_dist=True)
            for i, r in zip(ids, returns):
                self.log(f"{key}/task_{i}", float(r), sync_dist=True)
            # Families with a success signal (Meta-World): the success rate of those episodes,
            # eval/train_success and eval/test_success_mier_wr beside the returns.
            success = dm.collector.last_success
            if success is not None and len(success) == len(ids):
                results[f"{split}_success"] = success
                rate = float(np.mean(success))
                self.log(key.replace("_return", "_success"), rate, prog_bar=True, sync_dist=True)
        if e.probe_tasks != 0:  # diag/...: can the task be read off the context?
            adapt_steps = e.adapt_steps or dm.batch_size
            for key, value in identification_metrics(
                self, dm.collector, adapt_steps, e.probe_tasks
            ).items():
                self.log(key, value, sync_dist=True)
        if clips:
            self._log_videos(clips)
        return results

    def _log_videos(self, clips: dict[str, EpisodeRecorder]) -> None:
        """Log the rendered episodes to the loggers; files under ``<log dir>/videos/``."""
        made = {tag: video for tag, r in clips.items() if (video := r.video()) is not None}
        if not made:
            return
        log_dir = self.trainer.log_dir
        files = log_videos(
            self.loggers,
            made,
            self.global_step,
            Path(log_dir, "videos") if log_dir else None,
        )
        seconds = sum(r.seconds for r in clips.values())
        where = f" in {files[0].parent}" if files else ""
        self.print(f"videos: {len(made)} episodes rendered in {seconds:.1f}s{where}")

    def on_before_optimizer_step(self, optimizer) -> None:
        clip_pending_gradients(self, optimizer)  # after unscaling: see manual_step

    # ----------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Config dataclasses given in Python (the CLI passes dicts) are saved as dicts: a
        # checkpoint holds plain data only, which read_checkpoint insists on.
        hparams = checkpoint.get("hyper_parameters") or {}
        for key, value in hparams.items():
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                hparams[key] = dataclasses.asdict(value)
        dm = self.data
        checkpoint["mier"] = {"family": dm.family, "obs_dim": dm.obs_dim, "act_dim": dm.act_dim}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        path = (self.trainer.ckpt_path if self._trainer is not None else None) or "(in memory)"
        # A fit without the data module (a weights-only use) needs no replay in the file.
        parts = (
            FIT_PARTS if dm is not None else tuple(p for p in FIT_PARTS if p != "ReplayDataModule")
        )
        check_intact(checkpoint, path, parts)
        if "optimizer_states" in checkpoint:  # checked in on_fit_start, once optimisers exist
            self._resumed_layout = (optimizer_layout(checkpoint["optimizer_states"]), path)
        if dm is not None:
            check_checkpoint_family(checkpoint, dm.family, dm.obs_dim, dm.act_dim)


def check_checkpoint_family(
    checkpoint: dict, family: str, obs_dim: int, act_dim: int, path: str = ""
) -> None:
    """Raise, naming both sides, when a checkpoint is not a run of ``family``."""
    saved = checkpoint.get("mier")
    where = f"checkpoint {path} " if path else "the checkpoint "
    if saved is None:
        raise ValueError(f"{where}is not a mier_pl meta-training checkpoint (no 'mier' entry)")
    if (saved["family"], saved["obs_dim"], saved["act_dim"]) != (family, obs_dim, act_dim):
        raise ValueError(
            f"{where}is from family {saved['family']!r} (obs_dim {saved['obs_dim']}, act_dim "
            f"{saved['act_dim']}) but this run is {family!r} (obs_dim {obs_dim}, act_dim "
            f"{act_dim}); pass a checkpoint of a {family} run or the config of {saved['family']!r}"
        )
