"""Family names, classes and Gymnasium ids agree."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest

import mier_pl  # noqa: F401  (registers the families with Gymnasium)
from mier_pl.envs import FAMILY_NAMES, family_class, register_all


def test_every_family_has_a_class_named_by_it():
    for name in FAMILY_NAMES:
        assert family_class(name).family == name


def test_env_ids_are_registered_camel_case_with_the_horizon():
    ids = [family_class(name).env_id for name in FAMILY_NAMES]
    assert len(set(ids)) == len(ids)
    for name, env_id in zip(FAMILY_NAMES, ids):
        assert re.fullmatch(r"mier_pl/[A-Z][A-Za-z0-9]+-v0", env_id)
        assert gym.spec(env_id).max_episode_steps == family_class(name).max_episode_steps


def test_register_all_is_idempotent():
    before = len(gym.registry)
    register_all()
    assert len(gym.registry) == before


def test_family_class_error_names_the_valid_families():
    with pytest.raises(ValueError, match="valid families are: point-goal, point-rotated, cheetah"):
        family_class("cheetah")
