"""Cheetah, ant and humanoid families (spec §7): task lists, rewards, negation, termination.

Rewards are recomputed from the simulator state before and after a step, and the robots are
checked against Gymnasium's own v5 envs (same reset noise, same observation parts).
"""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

from mier_pl.envs import family_class, make_env
from mier_pl.envs.mujoco_base import HeadingTask, quiet_settotalmass

FULL_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


def get_state(env) -> np.ndarray:
    state = np.empty(mujoco.mj_stateSize(env.model, FULL_STATE))
    mujoco.mj_getState(env.model, env.data, state, FULL_STATE)
    return state


def set_state(env, state: np.ndarray) -> None:
    mujoco.mj_setState(env.model, env.data, state, FULL_STATE)


def random_actions(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, dim))


# ------------------------------------------------------------ model loading
def test_loading_half_cheetah_writes_no_mujoco_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_env("cheetah-vel")
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    with pytest.warns(UserWarning, match="MuJoCo: another warning"), quiet_settotalmass():
        mujoco.get_mju_user_warning()("another warning")
    assert mujoco.get_mju_user_warning() is None


# ----------------------------------------------------------------- cheetah
def test_cheetah_vel_targets():
    env = make_env("cheetah-vel")
    expected = np.random.default_rng(1337).uniform(0.0, 3.0, size=130)
    assert [t.velocity for t in env.train_tasks + env.test_tasks] == expected.tolist()


def test_cheetah_vel_medium_and_hard_share_their_ood_test_targets():
    medium, hard = make_env("cheetah-vel-medium"), make_env("cheetah-vel-hard")
    train_m = np.array([t.velocity for t in medium.train_tasks])
    train_h = np.array([t.velocity for t in hard.train_tasks])
    test = np.array([t.velocity for t in medium.test_tasks])
    assert train_m.min() >= 0 and train_m.max() < 2.5
    assert train_h.min() >= 0 and train_h.max() < 1.5
    assert test.min() >= 2.5 and test.max() < 3.0 and len(set(test)) == 30
    assert medium.test_tasks == hard.test_tasks
    np.testing.assert_array_equal(test, np.random.default_rng([1337, 1]).uniform(2.5, 3.0, size=30))
    np.testing.assert_array_equal(train_h, np.random.default_rng(1337).uniform(0, 1.5, 100))


def test_cheetah_negated_joint_tasks_in_combinations_order():
    env = make_env("cheetah-negated-joints")
    assert [t.joints for t in env.train_tasks] == list(itertools.combinations(range(5), 3))
    assert [t.joints for t in env.test_tasks] == [
        (*c, 5) for c in itertools.combinations(range(5), 2)
    ]
    assert not {t.joints for t in env.train_tasks} & {t.joints for t in env.test_tasks}


def test_cheetah_matches_half_cheetah_v5():
    """Reset noise, qpos/qvel part of the observation and reward (dir +1 = v5 with w=0.05)."""
    ours = make_env("cheetah-dir")
    with quiet_settotalmass():
        ref = gym.make("HalfCheetah-v5", ctrl_cost_weight=0.05)
    obs, _ = ours.reset(seed=3)
    ref_obs, _ = ref.reset(seed=3)
    np.testing.assert_array_equal(obs[:17], ref_obs)
    for action in random_actions(20, 6):
        obs, reward, *_ = ours.step(action)
        ref_obs, ref_reward, *_ = ref.step(action)
        np.testing.assert_array_equal(obs[:17], ref_obs)
        np.testing.assert_array_equal(obs[17:], ours.data.body("torso").xpos)
        assert reward == pytest.approx(ref_reward, abs=1e-12)


@pytest.mark.parametrize(
    ("family", "task", "expected_reward"),
    [
        ("cheetah-vel", 5, lambda v, a, t: -abs(v - t.velocity) - 0.05 * a @ a),
        ("cheetah-vel-hard", 2, lambda v, a, t: -abs(v - t.velocity) - 0.05 * a @ a),
        ("cheetah-dir", 1, lambda v, a, t: -v - 0.05 * a @ a),
        ("cheetah-negated-joints", 4, lambda v, a, t: v - 0.1 * a @ a),
        ("walker-rand-params", 7, lambda v, a, t: v + 1.0 - 1e-3 * a @ a),
        ("walker-rand-params-ood", 41, lambda v, a, t: v + 1.0 - 1e-3 * a @ a),
    ],
)
def test_x_velocity_rewards_recomputed_from_qpos(family, task, expected_reward):
    env = make_env(family)
    tasks = env.train_tasks + env.test_tasks
    env.set_task(tasks[task])
    dt = {"cheetah": 0.01 * 5, "walker": 0.002 * 4}[family.split("-")[0]]
    assert env.dt == pytest.approx(dt)
    env.reset(seed=1)
    for action in random_actions(40, 6, seed=task):
        x_before = env.data.qpos[0]
        _, reward, terminated, *_ = env.step(action)
        v = (env.data.qpos[0] - x_before) / dt
        assert abs(reward - expected_reward(v, action, env.task)) < 1e-6
        if terminated:
            env.reset()


@pytest.mark.parametrize("family", ["cheetah-negated-joints", "ant-negated-joints"])
def test_negating_a_joint_reverses_its_effect(family):
    """From one sim state, action a under task T = a with T's joints flipped under task R."""
    env = make_env(family)
    reference = env.train_tasks[0]
    nu = env.action_space.shape[0]
    env.reset(seed=0)
    for action in random_actions(5, nu):  # move away from the initial pose
        env.step(action)
    state = get_state(env)
    action = random_actions(1, nu, seed=1)[0]
    for task in env.train_tasks + env.test_tasks:
        flip = np.ones(nu)
        flip[list(set(task.joints) ^ set(reference.joints))] = -1.0
        env.set_task(task)
        set_state(env, state)
        obs_task, reward_task, *_ = env.step(action)
        env.set_task(reference)
        set_state(env, state)
        obs_flipped, reward_flipped, *_ = env.step(flip * action)
        set_state(env, state)
        obs_unflipped, *_ = env.step(action)
        np.testing.assert_array_equal(obs_task, obs_flipped)
        assert np.array_equal(obs_task, obs_unflipped) == (task == reference)
        # the control cost charges the policy's action: ‖a‖ = ‖flip·a‖
        assert reward_task == pytest.approx(reward_flipped, abs=1e-12)


# --------------------------------------------------------------------- ant
def test_ant_dir_tasks():
    bench, ood = make_env("ant-dir"), make_env("ant-dir-ood")
    assert [t.angle for t in bench.train_tasks] == [0.0, math.pi] and not bench.test_tasks
    train = np.array([t.angle for t in ood.train_tasks])
    test = np.array([t.angle for t in ood.test_tasks])
    np.testing.assert_array_equal(train, np.random.default_rng(42).uniform(0, 1.5 * math.pi, 100))
    assert train.min() >= 0 and train.max() < 1.5 * math.pi
    np.testing.assert_array_equal(test, np.linspace(1.5 * math.pi, 2 * math.pi, 10))


def test_ant_negated_joint_tasks():
    env = make_env("ant-negated-joints")
    assert [t.joints for t in env.train_tasks] == list(itertools.combinations(range(7), 4))
    firsts = list(itertools.combinations(range(7), 3))[:15]
    assert [t.joints for t in env.test_tasks] == [(*c, 7) for c in firsts]
    assert all(len(t.joints) == 4 and t.joints[-1] == 7 for t in env.test_tasks)
    assert all(7 not in t.joints for t in env.train_tasks)


def test_ant_matches_ant_v5():
    """Reset noise, observation (v5 without contact forces), control and contact costs."""
    ours = make_env("ant-dir")
    ref = gym.make("Ant-v5", include_cfrc_ext_in_observation=False)
    obs, _ = ours.reset(seed=5)
    ref_obs, _ = ref.reset(seed=5)
    np.testing.assert_array_equal(obs, ref_obs)
    for action in random_actions(30, 8):
        obs, _, terminated, _, info = ours.step(action)
        ref_obs, _, ref_terminated, _, ref_info = ref.step(action)
        np.testing.assert_array_equal(obs, ref_obs)
        assert terminated == ref_terminated
        for term in ("reward_ctrl", "reward_contact"):
            assert info[term] == pytest.approx(ref_info[term], abs=1e-12)


@pytest.mark.parametrize(("family", "task"), [("ant-negated-joints", 40), ("ant-dir-ood", 3)])
def test_ant_reward_recomputed_on_a_separate_sim(family, task):
    """Step a fresh MjData from the same state with the negated controls; rebuild the reward."""
    env = make_env(family)
    env.set_task((env.train_tasks + env.test_tasks)[task])
    sign = np.ones(8)
    if family == "ant-negated-joints":
        sign[list(env.task.joints)] = -1.0
        direction = np.array([1.0, 0.0])
    else:
        direction = np.array([math.cos(env.task.angle), math.sin(env.task.angle)])
    sim = mujoco.MjData(env.model)
    env.reset(seed=2)
    contact_costs = []
    for action in random_actions(40, 8, seed=task):
        mujoco.mj_setState(env.model, sim, get_state(env), FULL_STATE)
        sim.ctrl[:] = sign * action
        mujoco.mj_step(env.model, sim, nstep=5)
        mujoco.mj_rnePostConstraint(env.model, sim)
        velocity = (sim.qpos[:2] - env.data.qpos[:2]) / 0.05
        contact_cost = 5e-4 * np.sum(np.clip(sim.cfrc_ext, -1, 1) ** 2)
        expected = velocity @ direction + 1.0 - 0.5 * action @ action - contact_cost
        obs, reward, terminated, *_ = env.step(action)
        np.testing.assert_array_equal(obs, np.concatenate((sim.qpos[2:], sim.qvel)))
        assert abs(reward - expected) < 1e-6
        contact_costs.append(contact_cost)
        if terminated:
            env.reset()
    assert max(contact_costs) > 1e-3  # the contact term was exercised


def test_ant_termination_rule_at_crafted_states():
    env = make_env("ant-negated-joints")
    env.reset(seed=0)
    fn = family_class("ant-negated-joints").termination_fn
    for z, terminal in [(0.1, True), (0.2, False), (0.5, False), (1.0, False), (1.1, True)]:
        qpos = env.init_qpos.copy()
        qpos[2] = z
        env.set_state(qpos, env.init_qvel)
        obs = torch.as_tensor(env._get_obs())
        assert env._terminated() is terminal
        assert bool(fn(obs, torch.zeros(8), obs)) is terminal
    env.data.qvel[3] = np.nan
    obs = torch.as_tensor(env._get_obs())
    assert env._terminated() and bool(fn(obs, torch.zeros(8), obs))
    rows = torch.tensor([[0.5] * 27] * 3)
    rows[1, 10], rows[2, 26] = math.inf, -math.inf
    assert fn(rows, torch.zeros(3, 8), rows).tolist() == [False, True, True]


# ---------------------------------------------------------------- humanoid
def test_humanoid_dir_tasks():
    env = make_env("humanoid-dir")
    expected = np.random.default_rng(1337).uniform(0, 2 * math.pi, size=130)
    assert [t.angle for t in env.train_tasks + env.test_tasks] == expected.tolist()


def test_humanoid_heading_zero_is_humanoid_v5():
    """Action a in [-1, 1] drives v5's 0.4·a; obs and reward equal (v5's survive bonus is
    5 only while healthy, ours always); reset obs differ only in contact forces."""
    ours, ref = make_env("humanoid-dir"), gym.make("Humanoid-v5")
    ours.set_task(HeadingTask(0.0))
    obs, _ = ours.reset(seed=4)
    ref_obs, _ = ref.reset(seed=4)
    np.testing.assert_array_equal(obs[:-78], ref_obs[:-78])
    for action in random_actions(40, 17):
        obs, reward, terminated, _, _ = ours.step(action)
        ref_obs, ref_reward, ref_terminated, _, _ = ref.step(0.4 * action)
        np.testing.assert_array_equal(ours.data.ctrl, 0.4 * action)
        np.testing.assert_allclose(obs, ref_obs, rtol=0, atol=1e-12)
        assert terminated == ref_terminated
        assert reward == pytest.approx(ref_reward + 5.0 * terminated, abs=1e-9)
        if terminated:
            break


def test_humanoid_forward_term_follows_the_task_direction():
    env = make_env("humanoid-dir")
    env.set_task(HeadingTask(math.pi / 2))
    env.reset(seed=0)
    mass = env.model.body_mass
    for action in random_actions(10, 17):
        com_before = (mass @ env.data.xipos)[:2] / mass.sum()
        _, _, _, _, info = env.step(action)
        com_after = (mass @ env.data.xipos)[:2] / mass.sum()
        v_y = (com_after[1] - com_before[1]) / env.dt
        assert info["reward_forward"] == pytest.approx(1.25 * v_y, abs=1e-6)


# ------------------------------------------------------------- termination
@pytest.mark.parametrize(
    ("family", "steps", "min_terminals"),
    [
        ("ant-negated-joints", 3000, 10),
        ("walker-rand-params-ood", 3000, 50),
        ("humanoid-dir", 600, 5),
    ],
)
def test_termination_fn_agrees_with_the_env(family, steps, min_terminals):
    env = make_env(family)
    nu = env.action_space.shape[0]
    obs, _ = env.reset(seed=0)
    rows, done, since_reset = [], [], 0
    for i, action in enumerate(random_actions(steps, nu)):
        if i % 200 == 0:  # cover several tasks
            env.set_task(env.train_tasks[(i // 200) % len(env.train_tasks)])
        next_obs, _, terminated, _, _ = env.step(action)
        rows.append((obs, action, next_obs))
        done.append(terminated)
        since_reset += 1
        obs = next_obs
        if terminated or since_reset == 200:
            obs, _ = env.reset()
            since_reset = 0
    o, a, o2 = (torch.as_tensor(np.array(x)) for x in zip(*rows))
    predicted = env.termination_fn(o, a, o2)
    assert predicted.tolist() == done
    assert sum(done) >= min_terminals
    # also batched over two leading dims
    assert env.termination_fn(o[None], a[None], o2[None])[0].tolist() == done
