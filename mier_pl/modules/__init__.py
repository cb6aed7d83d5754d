"""LightningModules: optimisers, stepping and logging; the maths lives in ``functional/``."""

from mier_pl.modules.common import CollectConfig, EvalConfig
from mier_pl.modules.context_sac import ContextSACModule, SACConfig
from mier_pl.modules.meta_model import DynamicsConfig, MetaModelModule
from mier_pl.modules.mier import MIERModule
from mier_pl.modules.pearl import PEARLConfig, PEARLModule

__all__ = [
    "CollectConfig",
    "ContextSACModule",
    "DynamicsConfig",
    "EvalConfig",
    "MIERModule",
    "MetaModelModule",
    "PEARLConfig",
    "PEARLModule",
    "SACConfig",
]
