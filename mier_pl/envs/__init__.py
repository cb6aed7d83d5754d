"""Task families (docs/algorithm.md §7): MuJoCo families on Gymnasium v5 models and two cheap point families.

A user's own family is a :class:`MetaEnv` subclass in the user's package, named by its import
path (``"my_package.my_module:MyFamily"``) wherever a built-in name goes; ``python -m mier_pl
check_family PATH`` (:mod:`mier_pl.envs.check`) checks it against the contract.
"""

from mier_pl.envs.meta_env import MetaEnv, Split
from mier_pl.envs.registry import (
    FAMILY_NAMES,
    BuiltinFamily,
    FamilyError,
    FamilyName,
    family_class,
    family_label,
    make_env,
    register_all,
    register_family,
)

__all__ = [
    "FAMILY_NAMES",
    "BuiltinFamily",
    "FamilyError",
    "FamilyName",
    "MetaEnv",
    "Split",
    "family_class",
    "family_label",
    "make_env",
    "register_all",
    "register_family",
]
