"""Family names → env classes, Gymnasium registration, and construction with clear errors."""

from __future__ import annotations

from typing import Literal, get_args

import gymnasium as gym

from mier_pl.envs.meta_env import MetaEnv

# Every family a config may name; the CLI rejects anything else before any compute.
FamilyName = Literal[
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
FAMILY_NAMES: tuple[str, ...] = get_args(FamilyName)


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


def family_class(family: str) -> type[MetaEnv]:
    """The env class of ``family``; an unknown name lists the valid ones."""
    classes = _classes()
    if family not in classes:
        raise ValueError(
            f"unknown task family {family!r}; valid families are: {', '.join(FAMILY_NAMES)}"
        )
    return classes[family]


def make_env(family: str, family_seed: int | None = None) -> MetaEnv:
    """An unwrapped env of ``family`` for mier_pl's own loops (they apply the horizon)."""
    return family_class(family)(family_seed=family_seed)


def register_all() -> None:
    """Register every family with Gymnasium as ``mier_pl/<CamelCase>-v0`` with its time limit."""
    for cls in _classes().values():
        if cls.env_id in gym.registry:
            continue
        gym.register(
            id=cls.env_id,
            entry_point=f"{cls.__module__}:{cls.__name__}",
            max_episode_steps=cls.max_episode_steps,
        )
