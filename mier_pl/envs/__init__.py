"""Task families (docs/algorithm.md §7): MuJoCo families on Gymnasium v5 models and two cheap point families."""

from mier_pl.envs.meta_env import MetaEnv, Split
from mier_pl.envs.registry import FAMILY_NAMES, FamilyName, family_class, make_env, register_all

__all__ = [
    "FAMILY_NAMES",
    "FamilyName",
    "MetaEnv",
    "Split",
    "family_class",
    "make_env",
    "register_all",
]
