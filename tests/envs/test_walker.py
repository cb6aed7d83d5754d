"""Walker random-physics families (spec §7): task draws, exact and reversible task switches."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from mier_pl.envs import make_env
from mier_pl.envs.walker import PHYSICS_FIELDS, PhysicsTask

# walker2d_v5.xml: 8 bodies (with the world), 8 geoms, 9 dofs.
SIZES = {"body_mass": 8, "body_inertia": 24, "dof_damping": 9, "geom_friction": 24}
BASE = {"body_mass": 1.5, "body_inertia": 1.5, "dof_damping": 1.3, "geom_friction": 1.5}
# Derived constants MuJoCo computes from masses and inertias; they must follow the task too.
DERIVED = ("body_subtreemass", "body_invweight0", "dof_invweight0", "dof_M0")


def release_draw(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One task as the release's rand_param_envs draws it: mass, inertia, damping, friction."""
    return {name: BASE[name] ** rng.uniform(-3, 3, size=SIZES[name]) for name in PHYSICS_FIELDS}


def as_arrays(task: PhysicsTask) -> dict[str, np.ndarray]:
    return {name: np.array(getattr(task, name)) for name in PHYSICS_FIELDS}


def test_field_order_is_the_release_draw_order():
    assert PHYSICS_FIELDS == ("body_mass", "body_inertia", "dof_damping", "geom_friction")


def test_benchmark_tasks_are_the_release_draws():
    env = make_env("walker-rand-params")
    rng = np.random.default_rng(1337)
    for task in env.train_tasks + env.test_tasks:
        expected = release_draw(rng)
        for name, scales in as_arrays(task).items():
            np.testing.assert_array_equal(scales, expected[name])
            assert scales.min() >= BASE[name] ** -3 and scales.max() <= BASE[name] ** 3


def test_ood_test_tasks_are_five_sigma_out_per_element():
    env = make_env("walker-rand-params-ood")
    rng = np.random.default_rng(42)
    train = [release_draw(rng) for _ in range(40)]
    for task, expected in zip(env.train_tasks, train):
        np.testing.assert_array_equal(as_arrays(task)["body_mass"], expected["body_mass"])
    mean = {n: np.mean([t[n] for t in train], axis=0) for n in PHYSICS_FIELDS}
    std = {n: np.std([t[n] for t in train], axis=0) for n in PHYSICS_FIELDS}
    z_scores = []
    for task in env.test_tasks:
        for name, scales in as_arrays(task).items():
            expected = np.abs(rng.normal(mean[name] + 5 * std[name], std[name]))
            np.testing.assert_array_equal(scales, expected)
            z_scores.append((scales - mean[name]) / std[name])
    z = np.concatenate(z_scores)
    assert z.size == 20 * sum(SIZES.values())
    assert 4.85 < z.mean() < 5.15 and 0.9 < z.std() < 1.1  # ±5 standard errors
    assert z.min() > 0  # every test element lies beyond the train mean


def test_apply_task_sets_default_times_scale():
    env = make_env("walker-rand-params")
    fresh = mujoco.MjModel.from_xml_path(env.fullpath)
    defaults = {n: getattr(fresh, n) for n in PHYSICS_FIELDS}
    for task in env.test_tasks[:3] + env.train_tasks[:1]:
        env.set_task(task)
        for name, scales in as_arrays(task).items():
            expected = defaults[name] * scales.reshape(defaults[name].shape)
            np.testing.assert_array_equal(getattr(env.model, name), expected)
        assert env.model.body_subtreemass[0] == pytest.approx(env.model.body_mass.sum(), rel=1e-12)


def _trajectory(env, actions: np.ndarray) -> np.ndarray:
    obs = [env.reset(seed=11)[0]]
    for action in actions:
        obs.append(env.step(action)[0])
    return np.array(obs)


def test_switching_a_b_a_is_bit_identical():
    env = make_env("walker-rand-params-ood")
    a, b = env.train_tasks[3], env.test_tasks[5]
    actions = np.random.default_rng(0).uniform(-1, 1, size=(60, 6))
    fields = PHYSICS_FIELDS + DERIVED

    env.set_task(a)
    params_a = {n: getattr(env.model, n).copy() for n in fields}
    traj_a = _trajectory(env, actions)
    env.set_task(b)
    params_b = {n: getattr(env.model, n).copy() for n in fields}
    traj_b = _trajectory(env, actions)
    env.set_task(a)
    for name in fields:
        np.testing.assert_array_equal(getattr(env.model, name), params_a[name])
        assert not np.array_equal(params_a[name], params_b[name])
    np.testing.assert_array_equal(_trajectory(env, actions), traj_a)
    assert not np.allclose(traj_a[1:], traj_b[1:])  # the physics really differs


def test_set_task_mid_episode_keeps_the_state():
    env = make_env("walker-rand-params")
    env.reset(seed=0)
    env.step(np.full(6, 0.5))
    qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
    env.set_task(env.test_tasks[0])
    np.testing.assert_array_equal(env.data.qpos, qpos)
    np.testing.assert_array_equal(env.data.qvel, qvel)


def test_observation_clips_velocities():
    env = make_env("walker-rand-params")
    env.reset(seed=0)
    qvel = np.linspace(-30, 30, 9)
    env.set_state(env.data.qpos.copy(), qvel)
    obs = env._get_obs()
    np.testing.assert_array_equal(obs[:8], env.data.qpos[1:])
    np.testing.assert_array_equal(obs[8:], np.clip(qvel, -10, 10))


def test_a_physics_task_of_the_wrong_size_is_rejected():
    env = make_env("walker-rand-params")
    task = PhysicsTask(**{n: (1.0,) * 3 for n in PHYSICS_FIELDS})
    with pytest.raises(ValueError, match=r"PhysicsTask.body_mass has 3 scales, the model needs 8"):
        env.set_task(task)
    task = PhysicsTask(**{n: (1.0,) * SIZES[n] for n in PHYSICS_FIELDS[:-1]}, geom_friction=(1.0,))
    masses = env.model.body_mass.copy()
    with pytest.raises(ValueError, match=r"PhysicsTask.geom_friction has 1 scales"):
        env.set_task(task)
    np.testing.assert_array_equal(env.model.body_mass, masses)  # nothing half-applied
    assert env.task == env.train_tasks[0]
