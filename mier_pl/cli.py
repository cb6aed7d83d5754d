"""``python -m mier_pl``: a LightningCLI with MIER's links and defaults.

Dims, task counts and the family's kind are derived from the envs the data module built and
linked into the module at instantiation; configs never repeat them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.cli import LightningCLI

from mier_pl.data.datamodule import ReplayDataModule
from mier_pl.modules.base import check_checkpoint_family


class MIERCLI(LightningCLI):
    """LightningCLI with ``omegaconf+`` configs, linked dims and checkpoint checks."""

    def add_arguments_to_parser(self, parser) -> None:
        for source, target in (
            ("data.obs_dim", "model.init_args.obs_dim"),
            ("data.act_dim", "model.init_args.act_dim"),
            ("data.reward_only", "model.init_args.reward_only"),
        ):
            parser.link_arguments(source, target, apply_on="instantiate")
        parser.add_argument(
            "--torch_threads",
            type=int | None,
            default=None,
            help="torch.set_num_threads for the run (None: torch's default). Small nets on a "
            "CPU shared with env stepping often run fastest with 1.",
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                # last.ckpt holds everything (replay included); no best-k copies by default.
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 0,
                "checkpoint.every_n_epochs": 1,
                "checkpoint.save_on_train_epoch_end": True,
            }
        )

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        if cfg.get("torch_threads"):
            torch.set_num_threads(cfg.torch_threads)
        logger = cfg.trainer.get("logger")
        # Runs of a family land in lightning_logs/<family>/version_<n>.
        for item in logger if isinstance(logger, list) else [logger]:
            if getattr(item, "class_path", "").endswith("TensorBoardCSVLogger"):
                if item.init_args.get("name") in (None, "mier"):
                    item.init_args["name"] = cfg.data.family
        ckpt = cfg.get("ckpt_path")
        if ckpt and ckpt not in ("last", "hpc", "best", "registry"):
            path = Path(ckpt)
            if not path.is_file():
                raise SystemExit(
                    f"error: checkpoint {ckpt} does not exist; pass the path of a last.ckpt "
                    f"(lightning_logs/{cfg.data.family}/version_<n>/checkpoints/last.ckpt) or "
                    "--ckpt_path last to resume the newest run of this config"
                )
            # mmap: only the small metadata is read, not the replay tensors.
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            data = ReplayDataModule(family=cfg.data.family, family_seed=cfg.data.family_seed)
            try:
                check_checkpoint_family(checkpoint, data.family, data.obs_dim, data.act_dim, str(path))
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None


    def _instantiate_trainer(self, config: dict, callbacks: list):
        # Rich bar unless the user turned bars off (a bar in callbacks would then be an error).
        if config.get("enable_progress_bar") is not False:
            callbacks = [*callbacks, RichProgressBar(leave=True)]
        return super()._instantiate_trainer(config, callbacks)


def main(args: list[str] | None = None) -> MIERCLI:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Noise from Lightning's own internals that a user can do nothing about.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    return MIERCLI(
        LightningModule,
        ReplayDataModule,
        subclass_mode_model=True,
        auto_configure_optimizers=False,
        parser_kwargs={"parser_mode": "omegaconf+", "default_env": False},
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "logger": {
                "class_path": "mier_pl.loggers.TensorBoardCSVLogger",
                "init_args": {"default_hp_metric": False},
            },
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 50,
        },
        args=args,
    )
