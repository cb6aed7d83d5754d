"""``python -m mier_pl``: a LightningCLI with MIER's links and defaults.

Dims, task counts and the family's kind are derived from the envs the data module built and
linked into the module at instantiation; configs never repeat them.

Subcommands: Lightning's ``fit`` (meta-training, Algorithm 1) and ``adapt`` (test-time
experience relabeling, Algorithm 2; :mod:`mier_pl.cli.adapt_trainer`). Every parser has the top-level
``adapt:`` group (:class:`~mier_pl.data.relabel_replay.AdaptConfig`), so one family YAML serves both:
``fit`` parses the group and ignores it, ``adapt`` reads it.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import warnings
from pathlib import Path

import torch
from lightning_fabric.utilities.device_parser import _select_auto_accelerator
from pytorch_lightning import LightningModule
from pytorch_lightning.accelerators import AcceleratorRegistry, MPSAccelerator
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback
from pytorch_lightning.plugins.io import CheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mier_pl import runlock
from mier_pl.callbacks.checkpoint import LastCheckpoint
from mier_pl.callbacks.optimizer_settings import ConfiguredOptimizerSettings
from mier_pl.cli import resume as runs
from mier_pl.cli.adapt_trainer import (
    RUN_RECORD,
    AdaptInterrupted,
    MIERTrainer,
    adapt_kwargs,
    check_adapt_checkpoint,
    check_resume,
    missing_checkpoint_message,
    parse_tasks,
    run_record,
)
from mier_pl.cli.loggers import TensorBoardCSVLogger
from mier_pl.cli.parser import MIERArgumentParser
from mier_pl.data.checkpoint_io import (
    AtomicCheckpointIO,
    CheckpointError,
    check_intact,
    read_checkpoint,
)
from mier_pl.data.datamodule import ReplayDataModule
from mier_pl.data.relabel_replay import AdaptConfig
from mier_pl.envs import family_class
from mier_pl.fast.cuda_graph import GraphStepUnsupported
from mier_pl.fast.precision import Precision
from mier_pl.modules.base import check_checkpoint_family
from mier_pl.modules.mier import MIERModule
from mier_pl.modules.pearl import PEARLModule
from mier_pl.ranges import PositiveInt

# Rank 0's choice of a new run's version_<n>, for the ranks Lightning launches after it (they
# parse the same command but must not pick the next free number, which rank 0 just took).
_VERSION_ENV = "MIER_PL_RUN_VERSION"


class MIERCLI(LightningCLI):
    """LightningCLI with ``omegaconf+`` configs, linked dims, checkpoint checks and ``adapt``."""

    def __init__(self, *args, **kwargs) -> None:
        given = kwargs.get("args")
        # The command as typed, for the resume command an interrupted run prints.
        self._argv = [str(a) for a in given] if given is not None else sys.argv[1:]
        super().__init__(*args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # "adapt" is MIERTrainer.adapt; its settings come from the `adapt:` group, not a flag.
        # fit (Algorithm 1) and adapt (Algorithm 2); validate/test/predict have no meaning here.
        return {
            "fit": LightningCLI.subcommands()["fit"],
            "adapt": {"model", "datamodule", "settings"},
        }

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_class_arguments(AdaptConfig, "adapt", as_group=False)
        for source, target in (
            ("data.obs_dim", "model.init_args.obs_dim"),
            ("data.act_dim", "model.init_args.act_dim"),
            ("data.reward_only", "model.init_args.reward_only"),
            ("data.task_encoding_dim", "model.init_args.task_encoding_dim"),
        ):
            parser.link_arguments(source, target, apply_on="instantiate")
        parser.add_argument(
            "--torch_threads",
            type=PositiveInt | None,
            default=None,
            help="torch.set_num_threads for the run (None: torch's default). Small nets on a "
            "CPU shared with env stepping often run fastest with 1.",
        )
        parser.add_argument(
            "--matmul_precision",
            type=Precision | None,
            default=None,
            help="torch.set_float32_matmul_precision of the updates and relabeling (None: "
            "torch's default 'highest', plain float32 kernels; collection and evaluation always "
            "run at 'highest'). 'high' lets CUDA GPUs use TF32; 'medium' also lets CPUs with "
            "AVX512-BF16 or AMX use oneDNN's matmul kernels, which may round to bfloat16. Off "
            "by default because it may change numerics; measured speed-ups in BENCHMARKS.md.",
        )
        parser.add_lightning_class_args(LastCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                # last.ckpt holds everything (replay included); no best-k copies by default.
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 0,
                "checkpoint.every_n_epochs": 1,
                "checkpoint.save_on_train_epoch_end": True,
                # One last.ckpt per run: a resume whose stored dirpath differs (a moved or
                # copied run) would otherwise write last-v1.ckpt beside it, which
                # --ckpt_path last then had to choose between.
                "checkpoint.enable_version_counter": False,
            }
        )

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        try:  # the adapt: group's checks across fields (ranges were checked when parsing)
            adapt_kwargs(cfg)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        missing = family_class(cfg.data.family).missing_dependency()
        if missing:  # an optional package (Meta-World): one line saying how to install it
            raise SystemExit(f"error: {cfg.data.family}: {missing}")
        if cfg.get("torch_threads"):
            torch.set_num_threads(cfg.torch_threads)
        if cfg.get("matmul_precision"):
            torch.set_float32_matmul_precision(cfg.matmul_precision)
        logger = cfg.trainer.get("logger")
        tb = None
        # Runs of a family land in <default_root_dir>/lightning_logs/<family>/version_<n>, as
        # Lightning's own default logger does; an explicit save_dir still wins.
        for item in logger if isinstance(logger, list) else [logger]:
            if getattr(item, "class_path", "").endswith("TensorBoardCSVLogger"):
                tb = item
                if item.init_args.get("name") in (None, "mier"):
                    item.init_args["name"] = cfg.data.family
                if item.init_args.get("save_dir") is None:
                    root = cfg.trainer.get("default_root_dir") or "."
                    item.init_args["save_dir"] = str(Path(root, "lightning_logs"))
        if self.subcommand == "adapt":
            self._check_adapt(cfg, logger)
            return
        refuse_empty_budget(cfg.trainer)
        set_multi_device_strategy(cfg.trainer)
        ckpt = cfg.get("ckpt_path")
        if ckpt == "last" and tb is not None:
            cfg.ckpt_path = ckpt = self._resolve_last(cfg, tb)
        if ckpt and ckpt not in ("last", "hpc", "best", "registry"):
            path = Path(ckpt)
            if not path.is_file():
                raise SystemExit(
                    f"error: checkpoint {ckpt} does not exist; pass the path of a last.ckpt "
                    f"(lightning_logs/{cfg.data.family}/version_<n>/checkpoints/last.ckpt) or "
                    "--ckpt_path last to resume the newest run of this config"
                )
            checkpoint = self._read_checkpoint(path)
            try:  # parts, shapes, counters, finiteness: a damaged file stops here, not later
                check_intact(checkpoint, path)
            except CheckpointError as err:
                raise SystemExit(f"error: {err}") from None
            check_world_size(checkpoint, cfg.trainer, path)
            data = ReplayDataModule(family=cfg.data.family, family_seed=cfg.data.family_seed)
            try:
                check_checkpoint_family(
                    checkpoint, data.family, data.obs_dim, data.act_dim, str(path)
                )
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
            try:
                changed = runs.check_resumable(checkpoint, runs.config_settings(cfg), str(path))
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
            if changed:
                print(f"resume: this config changes {runs.describe(changed)}")
        if tb is not None:
            self._claim_run(tb, "version_")
        if notice := self.__dict__.pop("_resume_notice", None):
            print(notice)

    def _claim_run(self, tb, prefix: str) -> None:
        """Fix the run directory the logger writes (a new one is created now, so two runs
        started together never share it) and hold its lock (:mod:`mier_pl.runlock`)."""
        args = tb.init_args
        root = Path(args["save_dir"], args.get("name") or "")
        version = args.get("version")
        if version is None and not runlock.is_first_process():
            version = os.environ.get(_VERSION_ENV)
            if version is not None:
                args["version"] = int(version) if version.isdigit() else version
            return
        if version is None:
            run = runlock.new_run_dir(root, prefix)
            number = run.name.removeprefix(prefix)
            args["version"] = int(number) if prefix == "version_" else run.name
            os.environ[_VERSION_ENV] = str(args["version"])
        else:
            run = root / (version if isinstance(version, str) else f"version_{version}")
        if self.subcommand == "fit":
            fix = (
                "wait for it to finish or stop it; to train beside it, start a new run "
                "(without --ckpt_path, or another --trainer.logger.init_args.version)"
            )
        else:
            fix = "wait for it to finish or stop it, or leave --resume out to start a new adapt run"
        runlock.hold(run, fix)
        self._claimed = run

    def _resolve_last(self, cfg, tb) -> str | None:
        """``--ckpt_path last`` (:func:`mier_pl.cli.resume.find_last`); the resumed run keeps
        logging into that run's directory, so its curves continue where they stopped."""
        run_root = Path(tb.init_args["save_dir"], tb.init_args["name"])
        try:
            found = runs.find_last(run_root, cfg, self._read_checkpoint)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        if found is None:
            return None
        path, version = found
        if version is not None:
            tb.init_args["version"] = version
        self._resume_notice = f"resuming from {path}"  # once the run is ours (_claim_run)
        return str(path)

    def _parse_ckpt_path(self) -> None:
        """``fit``: keep this config's model settings (Lightning's version replaces them with the
        checkpoint's, silently dropping any given at resume); ``before_instantiate_classes``
        compares the two instead. ``adapt``: check the input, then take the checkpoint's model
        settings as Lightning does (adapt uses the meta-trained model as it was trained)."""
        if self.config.get("subcommand") == "adapt":
            self._check_adapt_input(self.config["adapt"])
            super()._parse_ckpt_path()

    def _check_adapt_input(self, cfg) -> None:
        """Refuse bad ``adapt`` input before anything is loaded or built, cheapest check first."""
        data = ReplayDataModule(family=cfg.data.family, family_seed=cfg.data.family_seed)
        try:
            parse_tasks(cfg.get("tasks"), data.num_test_tasks, data.family)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        ckpt = cfg.get("ckpt_path")
        if not ckpt or not Path(ckpt).is_file():
            root = cfg.trainer.get("default_root_dir") or "."
            raise SystemExit(f"error: {missing_checkpoint_message(data.family, ckpt, root)}")
        # mmap: only the metadata and the replay counters are read.
        checkpoint = self._read_checkpoint(ckpt)
        try:
            check_adapt_checkpoint(checkpoint, str(ckpt), data.family, data.obs_dim, data.act_dim)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None

    def _check_adapt(self, cfg, logger) -> None:
        """Refuse a bad ``--resume``; point the logger at adapt_<n>/ (or the resumed run)."""
        resume = cfg.get("resume")
        if resume and not Path(resume).is_dir():
            raise SystemExit(
                f"error: --resume {resume} is not a directory; "
                f"pass lightning_logs/{cfg.data.family}/adapt_<n>"
            )
        if resume and not (Path(resume) / RUN_RECORD).is_file():  # cheap, before hashing
            try:
                check_resume(resume, {"family": cfg.data.family})
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
        if resume:
            settings = adapt_kwargs(cfg)["settings"]
            try:
                check_resume(resume, run_record(cfg.ckpt_path, cfg.data.family, settings))
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
        # An adapt run is lightning_logs/<family>/adapt_<n>/ (or the run it resumes).
        for item in logger if isinstance(logger, list) else [logger]:
            if getattr(item, "class_path", "").endswith("TensorBoardCSVLogger"):
                args = item.init_args
                if resume:
                    run = Path(resume)
                    args["save_dir"], args["name"] = str(run.parent.parent), run.parent.name
                    args["version"] = run.name
                args["save_dir"] = args.get("save_dir") or "lightning_logs"
                self._claim_run(item, "adapt_")

    def before_adapt(self) -> None:
        logger = self.trainer.logger
        if isinstance(logger, TensorBoardCSVLogger) and self.trainer.is_global_zero:
            Path(logger.log_dir).mkdir(parents=True, exist_ok=True)
            self._parser("adapt").save(
                self.config["adapt"],
                Path(logger.log_dir) / runs.config_name(Path(logger.log_dir)),
                skip_none=False,
                overwrite=True,
            )

    def adapt(self, **kwargs):
        """Run ``MIERTrainer.adapt`` with the config's ``adapt:`` settings."""
        return self.trainer.adapt(**kwargs, **adapt_kwargs(self.config_init["adapt"]))

    def _run_subcommand(self, subcommand: str) -> None:
        """Run it; a SIGTERM or SIGINT exits non-zero (128 + the signal, as a shell reports a
        killed process) after naming the checkpoint and the command that resumes. Lightning
        alone exits 0 on SIGTERM, so `fit && adapt` and schedulers took a stopped run for a
        finished one."""
        try:
            super()._run_subcommand(subcommand)
        except AdaptInterrupted as err:
            task = err.run_dir / f"task_{err.task:02d}" / "checkpoints" / "last.ckpt"
            where = f"; task {err.task}'s last epoch is in {task}" if task.is_file() else ""
            self._stopped(
                err.signum,
                f"finished tasks are in {err.run_dir}/task_<i>/result.json{where}",
                {"--resume": str(err.run_dir)},
            )
        except (SystemExit, KeyboardInterrupt) as err:
            trainer = getattr(self, "trainer", None)
            if isinstance(err, SIGTERMException):
                signum = signal.SIGTERM
            elif isinstance(err, KeyboardInterrupt) or (
                trainer is not None and trainer.interrupted and err.code == 1
            ):
                signum = signal.SIGINT  # Lightning turns Ctrl-C into exit 1 with no word
            else:
                raise
            self._stopped_fit(signum)
        finally:  # the run is another process's to write from here on (main() in a loop)
            if claimed := self.__dict__.get("_claimed"):
                runlock.release(claimed)

    def _stopped_fit(self, signum: int) -> None:
        trainer = self.trainer
        callback = trainer.checkpoint_callback
        ckpt = None
        if callback is not None and callback.dirpath:
            ckpt = Path(callback.last_model_path or Path(callback.dirpath, "last.ckpt"))
        if ckpt is None or not ckpt.is_file():
            return self._stopped(signum, "no checkpoint was written yet", {})
        options = {"--ckpt_path": str(ckpt)}
        if isinstance(trainer.logger, TensorBoardCSVLogger):  # resume into this run directory
            options["--trainer.logger.init_args.version"] = str(trainer.logger.version)
        epoch = self._read_checkpoint(ckpt).get("epoch", "?")
        self._stopped(signum, f"its last checkpoint is {ckpt} (epoch {epoch})", options)

    def _stopped(self, signum: int, state: str, options: dict[str, str]) -> None:
        if self.trainer is None or self.trainer.is_global_zero:
            command = shlex.join(
                ["python", "-m", "mier_pl", *runlock.with_options(self._argv, options)]
            )
            name = signal.Signals(signum).name
            sys.stderr.write(
                f"{self.subcommand} stopped by {name}: {state}; resume with: {command}\n"
            )
            sys.stderr.flush()
        raise SystemExit(128 + signum)

    def after_fit(self) -> None:
        trainer = self.trainer
        log_dir = trainer.log_dir  # a collective under DDP: every rank must ask
        if trainer.is_global_zero and log_dir:
            ckpt = (
                trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
            )
            # The progress bar shows the epoch before the last one's metrics; this is the last.
            metrics = trainer.callback_metrics
            summary = [f"fit done after epoch {trainer.current_epoch - 1}"]
            for key, label in (
                ("progress/env_steps", "env steps"),
                ("train/episode_return", "train return"),
                ("eval/train_return", "eval train return"),
                ("eval/test_return_mier_wr", "MIER-wR test return"),
                ("eval/test_return_pearl", "PEARL test return"),
            ):
                if key in metrics:
                    value = float(metrics[key])
                    summary.append(
                        f"{label} {value:.0f}" if "steps" in key else f"{label} {value:.2f}"
                    )
            print(", ".join(summary))
            print(f"logs: {log_dir}  (tensorboard --logdir {Path(log_dir).parent})")
            if ckpt:
                hint = "resume: --ckpt_path last"
                # a model-only run has no policy to adapt
                if isinstance(self.model, (MIERModule, PEARLModule)):
                    hint += f"; test time: adapt --ckpt_path {ckpt}"
                print(f"checkpoint: {ckpt}  ({hint})")
        # Leave no gloo/NCCL threads for interpreter shutdown: a rank that exits with its
        # process group alive can abort in teardown ("terminate called without an active
        # exception", exit code -6 after a finished fit; seen once in the DDP test).
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    @staticmethod
    def _read_checkpoint(path: str | Path) -> dict:
        try:
            return read_checkpoint(path, mmap=True)  # mmap: only the metadata is read
        except CheckpointError as err:
            raise SystemExit(f"error: {err}") from None

    def _instantiate_trainer(self, config: dict, callbacks: list):
        # Rich bar unless the user turned bars off (a bar in callbacks would then be an error).
        if config.get("enable_progress_bar") is not False:
            callbacks = [*callbacks, RichProgressBar(leave=True)]
        if self.subcommand == "fit":
            callbacks = [*callbacks, ConfiguredOptimizerSettings()]
        # Checkpoints written beside their destination and renamed (data/checkpoint_io.py),
        # unless the user chose a checkpoint plugin of their own.
        plugins = config.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            config = {**config, "plugins": [*plugins, AtomicCheckpointIO()]}
        return super()._instantiate_trainer(config, callbacks)


def refuse_empty_budget(trainer) -> None:
    """Refuse trainer flags under which ``fit`` trains nothing: it used to report "fit done
    after epoch -1" and write no checkpoint."""
    for key in ("max_epochs", "max_steps", "limit_train_batches"):
        value = trainer.get(key)
        if value is not None and not isinstance(value, bool) and value == 0:
            raise SystemExit(
                f"error: --trainer.{key} {value:g} trains nothing (no epoch, no checkpoint); "
                f"pass a positive --trainer.{key}, or leave it out for the config's schedule"
            )


def check_world_size(checkpoint: dict, trainer, path: Path) -> None:
    """Refuse resuming a checkpoint of N ranks with another number: each rank's replay is its
    own (rank 0's in the checkpoint, the others' in replay_rank<k>.pt), and fewer ranks would
    drop some with their env steps."""
    saved = int((checkpoint.get("ReplayDataModule") or {}).get("world_size", 1))
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    now = env_world if env_world > 1 else (trainer.get("num_nodes") or 1) * _devices_used(trainer)
    if saved != now:
        raise SystemExit(
            f"error: checkpoint {path} holds the replay of {saved} rank(s) but this run would "
            f"have {now}; resume with --trainer.devices × --trainer.num_nodes = {saved} (and the "
            "run's --trainer.accelerator), or every rank's replay but rank 0's would be lost"
        )


# Each training step makes four backward passes (model, critic, actor, α), each touching a part
# of the networks, so DDP must tolerate parameters without a gradient (conf/strategy/ddp.yaml).
MULTI_DEVICE_STRATEGY = "ddp_find_unused_parameters_true"
_PLAIN_DDP = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")


def _devices_used(trainer) -> int:
    """How many devices of this node Lightning will use for the trainer's flags (1 for an
    ``Accelerator`` object or an unavailable accelerator: Lightning then decides or refuses)."""
    accelerator, devices = trainer.get("accelerator") or "auto", trainer.get("devices") or "auto"
    if not isinstance(accelerator, str):
        return 1
    if accelerator == "auto":
        accelerator = _select_auto_accelerator()  # private API (no public one); not a speed path
    elif accelerator == "gpu":  # Lightning's choice for "gpu"
        accelerator = "mps" if MPSAccelerator.is_available() else "cuda"
    if accelerator not in AcceleratorRegistry:
        return 1
    cls = AcceleratorRegistry[accelerator]["accelerator"]
    if not cls.is_available():
        return 1
    if devices == "auto":
        return cls.auto_device_count()
    return len(cls.get_parallel_devices(cls.parse_devices(devices)))


def set_multi_device_strategy(trainer) -> None:
    """Use :data:`MULTI_DEVICE_STRATEGY` when more than one process trains and the strategy is
    ``auto``, for which Lightning picks plain ``ddp``; refuse plain ``ddp``, which fails at
    step 0 ("parameters that were not used in producing the loss"), naming the flag to pass."""
    strategy = trainer.get("strategy") or "auto"
    if not isinstance(strategy, str):
        return
    if strategy in _PLAIN_DDP:
        raise SystemExit(
            f"error: --trainer.strategy {strategy} fails at the first training step: each step's "
            "backward passes use only part of the networks. Pass --trainer.strategy "
            f"{strategy}_find_unused_parameters_true (or --config conf/strategy/ddp.yaml)"
        )
    several = (
        (trainer.get("num_nodes") or 1) > 1
        or int(os.environ.get("WORLD_SIZE", "1")) > 1  # torchrun, SLURM
        or _devices_used(trainer) > 1
    )
    if strategy == "auto" and several:
        trainer.strategy = MULTI_DEVICE_STRATEGY


class RunConfig(SaveConfigCallback):
    """``config.yaml`` for a new run, ``config.resume-<k>.yaml`` for its k-th resume: the
    original record of a resumed run is never overwritten, even by a resume that then fails."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if not self.already_saved:
            log_dir = trainer.log_dir  # a collective under DDP: every rank must ask
            if log_dir:
                self.config_filename = runs.config_name(Path(log_dir))
        super().setup(trainer, pl_module, stage)


def main(args: list[str] | None = None) -> MIERCLI:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Noise from Lightning's own internals that a user can do nothing about.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    try:
        return _run(args)
    except CheckpointError as err:  # a full disk while saving: one line, what is intact
        raise SystemExit(f"error: {err}") from None
    except GraphStepUnsupported as err:  # cuda_graph where it cannot work: what to pass
        raise SystemExit(f"error: {err}") from None


def _run(args: list[str] | None) -> MIERCLI:
    return MIERCLI(
        LightningModule,
        ReplayDataModule,
        trainer_class=MIERTrainer,
        subclass_mode_model=True,
        auto_configure_optimizers=False,
        parser_class=MIERArgumentParser,
        # The seed Lightning's `true` resolves to without PL_GLOBAL_SEED; stated, so
        # --print_config and config.yaml show the seed a run actually used.
        seed_everything_default=0,
        parser_kwargs={
            "parser_mode": "omegaconf+",
            "default_env": False,
            "prog": "python -m mier_pl",
        },
        save_config_callback=RunConfig,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "logger": {
                "class_path": "mier_pl.cli.loggers.TensorBoardCSVLogger",
                "init_args": {"default_hp_metric": False},
            },
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 50,
            "profiler": {"class_path": "mier_pl.fast.hook_dispatch.NullProfiler"},
        },
        args=args,
    )
