"""The cheap point families (spec §7b): exact task lists, moves and rewards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mier_pl.envs import make_env


def test_point_goal_tasks():
    env = make_env("point-goal")
    train = np.array([t.angle for t in env.train_tasks])
    test = np.array([t.angle for t in env.test_tasks])
    assert train.shape == (40,) and np.all((train >= 0) & (train < 1.5 * math.pi))
    np.testing.assert_array_equal(test, np.linspace(1.5 * math.pi, 2 * math.pi, 10, endpoint=False))
    np.testing.assert_allclose(env.train_tasks[0].goal, [math.cos(train[0]), math.sin(train[0])])


def test_point_rotated_tasks():
    env = make_env("point-rotated")
    train = np.array([t.angle for t in env.train_tasks])
    test = np.array([t.angle for t in env.test_tasks])
    assert train.shape == (20,) and np.all(np.abs(train) <= math.pi / 4)
    np.testing.assert_array_equal(test, np.linspace(math.pi / 3, math.pi / 2, 10))


@pytest.mark.parametrize("family", ["point-goal", "point-rotated"])
def test_reward_is_minus_the_distance_after_the_move(family):
    env = make_env(family)
    env.set_task_index("test", 3)
    goal = np.array(env.task.goal) if family == "point-goal" else np.array([1.0, 0.0])
    pos, _ = env.reset(seed=0)
    np.testing.assert_array_equal(pos, [0.0, 0.0])
    rng = np.random.default_rng(0)
    for _ in range(30):
        new_pos, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 2))
        assert reward == pytest.approx(-np.linalg.norm(new_pos - goal), abs=1e-12)
        assert not terminated and not truncated
        pos = new_pos


def test_point_goal_moves_by_a_tenth_of_the_action():
    env = make_env("point-goal")
    env.reset(seed=0)
    pos, *_ = env.step(np.array([0.5, -1.0]))
    np.testing.assert_allclose(pos, [0.05, -0.1], atol=1e-15)
    pos, *_ = env.step(np.array([3.0, 0.0]))  # clipped to [-1, 1]
    np.testing.assert_allclose(pos, [0.15, -0.1], atol=1e-15)


def test_point_rotated_moves_by_the_rotated_action():
    env = make_env("point-rotated")
    for task in env.train_tasks[:3] + env.test_tasks[-2:]:
        env.set_task(task)
        env.reset(seed=0)
        a = np.array([0.3, -0.8])
        c, s = math.cos(task.angle), math.sin(task.angle)
        pos, *_ = env.step(a)
        np.testing.assert_allclose(pos, 0.1 * np.array([c * a[0] - s * a[1], s * a[0] + c * a[1]]))
    env.set_task(env.test_tasks[-1])  # π/2: +x action moves along +y
    env.reset(seed=0)
    pos, *_ = env.step(np.array([1.0, 0.0]))
    np.testing.assert_allclose(pos, [0.0, 0.1], atol=1e-15)
