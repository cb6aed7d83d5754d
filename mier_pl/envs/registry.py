"""Family names → env classes, Gymnasium registration, and construction with clear errors.

A family is named by a built-in name (``"cheetah-vel"``) or by the import path of a
:class:`~mier_pl.envs.meta_env.MetaEnv` subclass in the user's own package
(``"my_package.my_module:MyFamily"``, as a console-script entry point is written). Both work
everywhere: ``--data.family``, :func:`make_env`, ``ReplayDataModule(family=...)``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Literal, get_args

import gymnasium as gym

from mier_pl.envs.meta_env import MetaEnv

# Every built-in family; anything else must be a "module:Class" path (FamilyName).
BuiltinFamily = Literal[
    "point-goal",
    "point-rotated",
    "cheetah-vel",
    "cheetah-vel-medium",
    "cheetah-vel-hard",
    "cheetah-dir",
    "cheetah-negated-joints",
    "ant-dir",
    "ant-dir-ood",
    "ant-negated-joints",
    "walker-rand-params",
    "walker-rand-params-ood",
    "humanoid-dir",
    # Meta-World (optional dependency: docs/metaworld.md)
    "ml1-reach",
    "ml1-push",
    "ml1-pick-place",
    "ml10",
]
FAMILY_NAMES: tuple[str, ...] = get_args(BuiltinFamily)
# "package.module:Class": dotted module, one colon, a (possibly dotted) attribute.
_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
# Class variables every family sets (MetaEnv's docstring says what each means).
REQUIRED_CLASS_VARS = ("family", "env_id", "reward_only", "task_type")
# Methods a family must override: MetaEnv's and gym.Env's own raise NotImplementedError.
REQUIRED_METHODS = ("make_tasks", "step", "reset")


class FamilyError(ValueError):
    """A family name or path that cannot be used; the message is one line with the fix."""


class FamilyName(str):
    """A task family: a built-in name or a ``"package.module:Class"`` import path.

    The type of ``--data.family``: the CLI resolves the value while parsing (importing the
    module of a path), so a typo, a missing module or a class that breaks the contract is
    refused in one line before any env is built. The value itself stays the plain string.
    """

    def __new__(cls, value: str) -> FamilyName:
        family_class(value)  # raises FamilyError naming the problem and the fix
        return super().__new__(cls, value)


def family_label(family: str | type[MetaEnv]) -> str:
    """``family`` as a config value: a built-in name as is, a class as its ``module:Class``."""
    if isinstance(family, type):
        return f"{family.__module__}:{family.__qualname__}"
    return str(family)


def _classes() -> dict[str, type[MetaEnv]]:
    from mier_pl.envs import ant, cheetah, humanoid, meta_world, point, walker

    classes: list[type[MetaEnv]] = [
        point.PointGoalEnv,
        point.PointRotatedEnv,
        cheetah.CheetahVelEnv,
        cheetah.CheetahVelMediumEnv,
        cheetah.CheetahVelHardEnv,
        cheetah.CheetahDirEnv,
        cheetah.CheetahNegatedJointsEnv,
        ant.AntDirEnv,
        ant.AntDirOODEnv,
        ant.AntNegatedJointsEnv,
        walker.WalkerRandParamsEnv,
        walker.WalkerRandParamsOODEnv,
        humanoid.HumanoidDirEnv,
        meta_world.ML1ReachEnv,
        meta_world.ML1PushEnv,
        meta_world.ML1PickPlaceEnv,
        meta_world.ML10Env,
    ]
    return {cls.family: cls for cls in classes}


def family_class(family: str | type[MetaEnv]) -> type[MetaEnv]:
    """The env class of ``family``: a built-in name, a ``"module:Class"`` path or the class.

    A path's module is imported and its class checked (:func:`check_family_class`) and
    registered with Gymnasium under its ``env_id``. Raises :class:`FamilyError`, one line
    naming the problem and the fix: an unknown name (listing the valid ones), a module that
    does not import, a missing attribute, a class that is not a MetaEnv or lacks part of it.
    """
    if isinstance(family, type):
        check_family_class(family, family_label(family))
        register_family(family)
        return family
    classes = _classes()
    if family in classes:
        return classes[family]
    if ":" not in family:
        raise FamilyError(
            f"unknown task family {family!r}; valid families are: {', '.join(FAMILY_NAMES)}, "
            "or the import path of your own MetaEnv subclass, 'package.module:ClassName'"
        )
    if not _PATH.match(family):
        raise FamilyError(
            f"task family {family!r} is not an import path; write 'package.module:ClassName' "
            "(dotted module, one colon, the class)"
        )
    module_name, _, attr = family.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise FamilyError(
            f"task family {family!r}: module {module_name!r} cannot be imported ({err}); "
            "install your package or run from the directory that holds it (or add it to "
            "PYTHONPATH)"
        ) from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise FamilyError(
                f"task family {family!r}: module {module_name!r} has no attribute {attr!r}; "
                f"check the class name after the colon (defined in {module.__file__})"
            )
        obj = getattr(obj, part)
    check_family_class(obj, family)
    register_family(obj)
    return obj


def check_family_class(cls: object, label: str) -> None:
    """Raise :class:`FamilyError` unless ``cls`` is a concrete :class:`MetaEnv` subclass.

    What is checked is what can be checked without building an env: the base class, the
    required class variables (:data:`REQUIRED_CLASS_VARS`) and methods
    (:data:`REQUIRED_METHODS`). ``python -m mier_pl check_family`` checks the behaviour.
    """
    if not (isinstance(cls, type) and issubclass(cls, MetaEnv)):
        what = f"class {cls.__name__}" if isinstance(cls, type) else type(cls).__name__
        raise FamilyError(
            f"task family {label!r} is a {what}, not a MetaEnv subclass; derive it from "
            "mier_pl.MetaEnv (or mier_pl.envs.mujoco_base.MujocoMetaEnv for a MuJoCo robot)"
        )
    missing = [name for name in REQUIRED_CLASS_VARS if not hasattr(cls, name)]
    if missing:
        raise FamilyError(
            f"task family {label!r}: class {cls.__name__} does not set the class variable"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}; set "
            f"{' and '.join(missing)} on it (docs/custom_family.md)"
        )
    bases = {"make_tasks": MetaEnv, "step": gym.Env, "reset": gym.Env}
    missing = [
        name
        for name in REQUIRED_METHODS
        if inspect.getattr_static(cls, name, None) is inspect.getattr_static(bases[name], name)
    ]
    if missing:
        raise FamilyError(
            f"task family {label!r}: class {cls.__name__} does not implement "
            f"{', '.join(missing)}; define {' and '.join(missing)} (docs/custom_family.md)"
        )


def make_env(family: str | type[MetaEnv], family_seed: int | None = None) -> MetaEnv:
    """An unwrapped env of ``family`` for mier_pl's own loops (they apply the horizon).

    Args:
        family: a built-in name, a ``"package.module:Class"`` path or the class itself.
        family_seed: seed of the task lists; ``None`` is the family's ``default_family_seed``.
    """
    return family_class(family)(family_seed=family_seed)


def register_family(cls: str | type[MetaEnv]) -> None:
    """Register a family with Gymnasium as its ``env_id`` with its time limit (once).

    Args:
        cls: the class, or its ``"package.module:Class"`` path (or a built-in name).
    """
    if not isinstance(cls, type):
        family_class(cls)  # resolving a path registers it
        return
    if cls.env_id in gym.registry:
        return
    gym.register(
        id=cls.env_id,
        entry_point=f"{cls.__module__}:{cls.__qualname__}",
        max_episode_steps=cls.max_episode_steps,
    )


def register_all() -> None:
    """Register every family with Gymnasium as ``mier_pl/<CamelCase>-v0`` with its time limit."""
    for cls in _classes().values():
        register_family(cls)
