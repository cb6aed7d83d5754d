"""mier_pl: MIER meta-RL (Model Identification and Experience Relabeling) on PyTorch Lightning.

The public names, importable from here (docs/python_api.md)::

    from mier_pl import MIERModule, MIERTrainer, ReplayDataModule, DynamicsConfig, SACConfig

The task-family names are imported at once (``import mier_pl`` registers the families with
Gymnasium); the Lightning side (modules, data module, trainer, callbacks, configs) is imported
on first use, so ``import mier_pl`` stays as light as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mier_pl.envs import (
    FAMILY_NAMES,
    FamilyError,
    MetaEnv,
    family_class,
    make_env,
    register_all,
    register_family,
)

__version__ = "0.1.0"

# Public name → the module that defines it, imported when the name is first used.
_LAZY = {
    "ReplayDataModule": "mier_pl.data.datamodule",
    "AdaptConfig": "mier_pl.data.relabel_replay",
    "MIERModule": "mier_pl.modules",
    "PEARLModule": "mier_pl.modules",
    "MetaModelModule": "mier_pl.modules",
    "ContextSACModule": "mier_pl.modules",
    "CollectConfig": "mier_pl.modules",
    "EvalConfig": "mier_pl.modules",
    "DynamicsConfig": "mier_pl.modules",
    "SACConfig": "mier_pl.modules",
    "PEARLConfig": "mier_pl.modules",
    "RelabelCallback": "mier_pl.callbacks.relabel_callback",
    "MIERTrainer": "mier_pl.cli.adapt_trainer",
    "AdaptResults": "mier_pl.analysis.results",
    "check_family": "mier_pl.envs.check",
}

__all__ = [
    "FAMILY_NAMES",
    "AdaptConfig",
    "AdaptResults",
    "CollectConfig",
    "ContextSACModule",
    "DynamicsConfig",
    "EvalConfig",
    "FamilyError",
    "MIERModule",
    "MIERTrainer",
    "MetaEnv",
    "MetaModelModule",
    "PEARLConfig",
    "PEARLModule",
    "RelabelCallback",
    "ReplayDataModule",
    "SACConfig",
    "check_family",
    "family_class",
    "make_env",
    "register_family",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports them
    from mier_pl.analysis.results import AdaptResults
    from mier_pl.callbacks.relabel_callback import RelabelCallback
    from mier_pl.cli.adapt_trainer import MIERTrainer
    from mier_pl.data.datamodule import ReplayDataModule
    from mier_pl.data.relabel_replay import AdaptConfig
    from mier_pl.envs.check import check_family
    from mier_pl.modules import (
        CollectConfig,
        ContextSACModule,
        DynamicsConfig,
        EvalConfig,
        MetaModelModule,
        MIERModule,
        PEARLConfig,
        PEARLModule,
        SACConfig,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mier_pl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


register_all()
