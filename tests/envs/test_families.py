"""The MetaEnv contract, checked for every family (spec §7, §7b)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import mier_pl  # noqa: F401  (registers the families with Gymnasium)
from mier_pl.envs import FAMILY_NAMES, family_class, make_env
from tests.conftest import METAWORLD_FAMILIES, families

# family: (obs dim, action dim, train tasks, test tasks)
SIZES = {
    "point-goal": (2, 2, 40, 10),
    "point-rotated": (2, 2, 20, 10),
    "cheetah-vel": (20, 6, 100, 30),
    "cheetah-vel-medium": (20, 6, 100, 30),
    "cheetah-vel-hard": (20, 6, 100, 30),
    "cheetah-dir": (20, 6, 2, 0),
    "cheetah-negated-joints": (20, 6, 10, 10),
    "ant-dir": (27, 8, 2, 0),
    "ant-dir-ood": (27, 8, 100, 10),
    "ant-negated-joints": (27, 8, 35, 15),
    "walker-rand-params": (17, 6, 40, 10),
    "walker-rand-params-ood": (17, 6, 40, 20),
    "humanoid-dir": (348, 17, 100, 30),
    "ml1-reach": (39, 4, 50, 50),
    "ml1-push": (39, 4, 50, 50),
    "ml1-pick-place": (39, 4, 50, 50),
    "ml10": (39, 4, 500, 250),
}
# Families whose task lists are drawn from the family seed (the others are enumerations).
RANDOM_FAMILIES = [
    "point-goal",
    "point-rotated",
    "cheetah-vel",
    "cheetah-vel-medium",
    "cheetah-vel-hard",
    "ant-dir-ood",
    "walker-rand-params",
    "walker-rand-params-ood",
    "humanoid-dir",
    *METAWORLD_FAMILIES,  # the benchmark's goals come from its seed
]
# Families whose first observation is a function of the task alone.
DETERMINISTIC_RESET = {"point-goal", "point-rotated", *METAWORLD_FAMILIES}
HORIZONS = {"point-goal": 30, "point-rotated": 30} | dict.fromkeys(METAWORLD_FAMILIES, 500)
REWARD_ONLY = {"point-goal", "cheetah-vel", "cheetah-vel-medium", "cheetah-vel-hard"}
REWARD_ONLY |= {"cheetah-dir", "ant-dir", "ant-dir-ood", "humanoid-dir"}
REWARD_ONLY |= {"ml1-reach", "ml1-push", "ml1-pick-place"}


def test_sizes_table_covers_every_family():
    assert set(SIZES) == set(FAMILY_NAMES)


# Unbounded observations are intended, as in Gymnasium's own MuJoCo envs.
@pytest.mark.filterwarnings("ignore:.*A Box observation space m.*infinity")
@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_gym_make_passes_env_checker(family):
    cls = family_class(family)
    env = gym.make(cls.env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs_dim, act_dim, _, _ = SIZES[family]
    assert env.spec.max_episode_steps == cls.max_episode_steps
    assert env.observation_space.shape == (obs_dim,)
    assert env.observation_space.dtype == np.float64
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (obs_dim,) and obs.dtype == np.float64
    obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert obs.dtype == np.float64 and isinstance(reward, float)
    assert truncated is False and isinstance(terminated, bool)
    env.close()


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_task_counts_and_class_variables(family):
    env = make_env(family)
    _, _, n_train, n_test = SIZES[family]
    assert (len(env.train_tasks), len(env.test_tasks)) == (n_train, n_test)
    assert len(env.tasks("train")) == n_train and len(env.tasks("test")) == n_test
    assert env.reward_only == (family in REWARD_ONLY)
    assert env.max_episode_steps == HORIZONS.get(family, 200)
    assert env.task == env.train_tasks[0]
    assert all(isinstance(t, env.task_type) for t in env.train_tasks + env.test_tasks)
    hash(env.train_tasks[0])  # frozen, usable as a key


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_task_lists_are_a_function_of_the_family_seed(family):
    cls = family_class(family)
    default, same = make_env(family), make_env(family, family_seed=cls.default_family_seed)
    assert default.family_seed == cls.default_family_seed
    assert default.train_tasks == same.train_tasks and default.test_tasks == same.test_tasks
    other = make_env(family, family_seed=cls.default_family_seed + 1)
    if family in RANDOM_FAMILIES:
        assert other.train_tasks != default.train_tasks
    else:
        assert other.train_tasks == default.train_tasks


def test_family_seeds_follow_the_release():
    seeds = {name: family_class(name).default_family_seed for name in FAMILY_NAMES}
    assert seeds["cheetah-vel"] == seeds["humanoid-dir"] == seeds["walker-rand-params"] == 1337
    assert seeds["ant-dir-ood"] == seeds["walker-rand-params-ood"] == 42


def _rollout(env, seed: int, actions: np.ndarray) -> np.ndarray:
    obs = [env.reset(seed=seed)[0]]
    for action in actions:
        o, _, terminated, _, _ = env.step(action)
        obs.append(o)
        if terminated:
            obs.append(env.reset()[0])
    return np.array(obs)


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_same_reset_seed_gives_identical_observations(family):
    actions = np.random.default_rng(0).uniform(-1, 1, size=(100, SIZES[family][1]))
    first = _rollout(make_env(family), 7, actions)
    second = _rollout(make_env(family), 7, actions)
    assert first.shape[0] >= 101
    np.testing.assert_array_equal(first, second)
    if family not in DETERMINISTIC_RESET:  # the point always starts at the origin
        assert not np.array_equal(first[0], make_env(family).reset(seed=8)[0])


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_termination_fn_is_batched_over_any_leading_dims(family):
    obs_dim, act_dim, _, _ = SIZES[family]
    cls = family_class(family)
    for lead in [(), (7,), (3, 4)]:
        out = cls.termination_fn(
            torch.zeros(*lead, obs_dim), torch.zeros(*lead, act_dim), torch.zeros(*lead, obs_dim)
        )
        assert out.dtype == torch.bool and out.shape == lead


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_set_task_switches_in_place(family):
    env = make_env(family)
    last_split = "test" if env.test_tasks else "train"
    model = getattr(env, "model", None)
    env.set_task_index(last_split, len(env.tasks(last_split)) - 1)
    assert env.task == env.tasks(last_split)[-1]
    env.set_task(env.train_tasks[0])  # (ml10's tasks have models of their own, each built once)
    assert getattr(env, "model", None) is model  # the same MjModel: no rebuild


def test_time_limit_truncates_at_the_horizon():
    env = gym.make("mier_pl/CheetahVel-v0")
    env.reset(seed=0)
    for t in range(1, 201):
        _, _, terminated, truncated, _ = env.step(np.zeros(6, np.float32))
        assert not terminated and truncated == (t == 200)


# ------------------------------------------------------------- bad input
def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown task family 'nope'") as err:
        make_env("nope")
    for name in FAMILY_NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("family", "foreign"),
    [("ant-negated-joints", "cheetah-vel"), ("walker-rand-params", "humanoid-dir")],
)
def test_set_task_rejects_a_task_of_another_family(family, foreign):
    env, task = make_env(family), make_env(foreign).train_tasks[0]
    with pytest.raises(TypeError, match=f"{family} takes tasks of type"):
        env.set_task(task)
    assert env.task == env.train_tasks[0]


def test_set_task_index_checks_the_range():
    env = make_env("cheetah-negated-joints")
    with pytest.raises(IndexError, match=r"10 test tasks: valid indices are 0\.\.9, got 10"):
        env.set_task_index("test", 10)
    with pytest.raises(IndexError, match="got -1"):
        env.set_task_index("train", -1)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        env.set_task_index("val", 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("family", ["cheetah-vel", "ant-dir", "walker-rand-params", "point-goal"])
def test_step_names_the_expected_action_shape(family):
    env = make_env(family)
    env.reset(seed=0)
    act_dim = SIZES[family][1]
    with pytest.raises(ValueError, match=rf"action must have shape \({act_dim},\), got \(3,\)"):
        env.step(np.zeros(3))
