"""``MetaEnv.encode_task``: the numbers an oracle-context policy is told, for every family."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mier_pl.envs import FAMILY_NAMES, make_env
from mier_pl.envs.mujoco_base import NegatedJointsTask
from mier_pl.envs.walker import PHYSICS_FIELDS, SCALE_BASE
from tests.conftest import families

# family: encoding size
DIMS = {
    "point-goal": 2,
    "point-rotated": 2,
    "cheetah-vel": 1,
    "cheetah-vel-medium": 1,
    "cheetah-vel-hard": 1,
    "cheetah-dir": 1,
    "cheetah-negated-joints": 6,
    "ant-dir": 2,
    "ant-dir-ood": 2,
    "ant-negated-joints": 8,
    "walker-rand-params": 65,
    "walker-rand-params-ood": 65,
    "humanoid-dir": 2,
    "ml1-reach": 6,  # rand_vec: object and goal positions
    "ml1-push": 6,
    "ml1-pick-place": 6,
    "ml10": 21,  # one-hot of 15 environments and rand_vec zero-padded to 6
}


def test_every_family_has_an_encoding():
    assert set(DIMS) == set(FAMILY_NAMES)


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_encoding_tells_every_task_apart(family):
    env = make_env(family)
    tasks = env.train_tasks + env.test_tasks
    codes = np.stack([env.encode_task(t) for t in tasks])
    assert env.task_encoding_dim == DIMS[family] == codes.shape[1]
    assert codes.dtype == np.float32 and np.isfinite(codes).all()
    assert len({tuple(c) for c in codes.round(6)}) == len(tasks)  # distinct tasks, distinct codes


def test_point_goal_encodes_the_goal_direction():
    env = make_env("point-goal")
    task = env.train_tasks[3]
    np.testing.assert_allclose(env.encode_task(task), task.goal, rtol=1e-6)
    assert math.isclose(
        math.atan2(*env.encode_task(task)[::-1]) % (2 * math.pi), task.angle, rel_tol=1e-5
    )


def test_negated_joints_encode_a_mask_of_the_actuators():
    env = make_env("ant-negated-joints")
    np.testing.assert_array_equal(
        env.encode_task(NegatedJointsTask((1, 4, 7))), [0, 1, 0, 0, 1, 0, 0, 1]
    )


def test_walker_encodes_each_scale_exponent_over_its_limit():
    env = make_env("walker-rand-params")
    task = env.train_tasks[0]
    code = env.encode_task(task)
    first = PHYSICS_FIELDS[0]
    scale = getattr(task, first)[2]
    assert math.isclose(code[2], math.log(scale, SCALE_BASE[first]) / 3, rel_tol=1e-5)
    assert (np.abs(code) <= 1 + 1e-6).all()  # train scales are base^U(-3, 3)
