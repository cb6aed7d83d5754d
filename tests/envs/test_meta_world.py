"""The Meta-World families against the metaworld package: splits, hidden goal, success, spaces.

Skipped, with the reason, where the optional metaworld package is absent (docs/metaworld.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import METAWORLD_SKIP

metaworld = pytest.importorskip("metaworld", reason=METAWORLD_SKIP)

from metaworld import policies  # noqa: E402

from mier_pl.data.rollout import Collector  # noqa: E402
from mier_pl.envs import make_env  # noqa: E402
from mier_pl.envs.meta_world import GOAL_SLICE, MetaWorldTask, ML10Env, load_benchmark  # noqa: E402

SEED = 1337  # the families' default seed is the benchmark's seed
ML10_TRAIN = ML10Env.env_names[:10]
ML10_TEST = ML10Env.env_names[10:]


def scripted_policy(env_name: str):
    """metaworld's hand-written policy of ``env_name`` (it reads the goal from obs[36:39])."""
    words = env_name.removesuffix("-v3").split("-")
    name = "Sawyer" + "".join(w.capitalize() for w in words) + "V3Policy"
    return getattr(policies, name.replace("PegInsertSide", "PegInsertionSide"))()


def scripted_act_fn(collector: Collector, tasks):
    """A collector ``act_fn`` running the scripted policies, told each env's true goal."""
    pols = [scripted_policy(t.env_name) for t in tasks]

    def act(obs: torch.Tensor) -> torch.Tensor:
        out = []
        for i, (pol, o) in enumerate(zip(pols, obs.double().numpy())):
            full = o.copy()
            full[GOAL_SLICE] = collector.envs[i]._inner._target_pos  # what the policy needs
            out.append(pol.get_action(full))
        return torch.as_tensor(np.stack(out), dtype=torch.float32)

    return act


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize(
    ("family", "env_name"),
    [("ml1-reach", "reach-v3"), ("ml1-push", "push-v3"), ("ml1-pick-place", "pick-place-v3")],
)
def test_ml1_splits_are_the_packages(family, env_name):
    env = make_env(family)
    bench = metaworld.ML1(env_name, seed=SEED)
    assert (len(env.train_tasks), len(env.test_tasks)) == (50, 50)
    assert len(bench.train_tasks) == len(bench.test_tasks) == 50
    ours = load_benchmark(f"ML1:{env_name}", SEED)
    for split, raw in (("train", bench.train_tasks), ("test", bench.test_tasks)):
        tasks = env.tasks(split)
        assert [t.goal for t in tasks] == list(range(50))
        assert [ours.data[t].data for t in tasks] == [r.data for r in raw]  # same goals, order
    goals = {tuple(env.encode_task(t)) for t in env.train_tasks + env.test_tasks}
    assert len(goals) == 100  # train and test goals differ


def test_ml10_holds_out_five_environments():
    env = make_env("ml10")
    bench = metaworld.ML10(seed=SEED)
    assert list(bench.train_classes) == list(ML10_TRAIN)
    assert list(bench.test_classes) == list(ML10_TEST)
    train_envs = [t.env_name for t in env.train_tasks]
    test_envs = [t.env_name for t in env.test_tasks]
    assert {n: train_envs.count(n) for n in ML10_TRAIN} == dict.fromkeys(ML10_TRAIN, 50)
    assert {n: test_envs.count(n) for n in ML10_TEST} == dict.fromkeys(ML10_TEST, 50)
    assert not set(train_envs) & set(test_envs)
    assert env.reward_only is False and make_env("ml1-reach").reward_only is True


def test_every_ml10_environment_has_the_same_spaces():
    env = make_env("ml10")
    space = env.observation_space
    assert space.shape == (39,) and env.action_space.shape == (4,)
    for name in ML10Env.env_names:
        env.set_task(next(t for t in env.train_tasks + env.test_tasks if t.env_name == name))
        obs, _ = env.reset(seed=0)
        assert env._inner.observation_space == space and env._inner.action_space.shape == (4,)
        assert space.contains(obs)


def test_set_task_keeps_one_model_per_environment():
    env = make_env("ml10")
    first = env.model
    env.set_task(env.test_tasks[0])
    other = env.model
    assert other is not first and env.task.env_name == ML10_TEST[0]
    env.set_task(env.test_tasks[1])  # another goal of the same environment
    assert env.model is other
    env.set_task(env.train_tasks[3])
    assert env.model is first and len(env._envs) == 2  # built once each, kept


def test_a_task_of_another_benchmark_seed_is_refused():
    env = make_env("ml1-reach")
    with pytest.raises(ValueError, match="not a task of this family's benchmark"):
        env.set_task(MetaWorldTask("push-v3", "train", 0, (0.0,) * 6))
    other = make_env("ml1-reach", family_seed=SEED + 7).train_tasks[0]
    assert other.goal == 0 and other != env.train_tasks[0]
    with pytest.raises(ValueError, match="family seed 1337"):
        env.set_task(other)  # goal 0 of another benchmark seed is another task
    assert env.task == env.train_tasks[0]


# ------------------------------------------------------------ observations
@pytest.mark.parametrize("family", ["ml1-reach", "ml1-push", "ml10"])
def test_the_goal_is_hidden(family):
    env = make_env(family)
    for task in (env.train_tasks[0], env.test_tasks[-1]):
        env.set_task(task)
        obs, _ = env.reset(seed=0)
        goal = env._inner._target_pos
        assert np.linalg.norm(goal) > 0.1  # a real goal, that the observation does not show
        np.testing.assert_array_equal(obs[GOAL_SLICE], 0.0)
        for _ in range(5):
            obs, *_ = env.step(env.action_space.sample())
            np.testing.assert_array_equal(obs[GOAL_SLICE], 0.0)
    # two goals of one environment start from the same hand position: nothing tells them apart
    env.set_task(env.train_tasks[0])
    a, _ = env.reset()
    env.set_task(env.train_tasks[1])
    b, _ = env.reset()
    np.testing.assert_array_equal(a[:3], b[:3])


def test_episodes_are_truncated_at_the_horizon_never_terminated():
    env = make_env("ml1-reach")
    env.reset(seed=0)
    flags = [env.step(np.zeros(4, np.float32))[2:4] for _ in range(500)]
    assert not any(term for term, _ in flags)
    assert [t for t, (_, trunc) in enumerate(flags, 1) if trunc] == [500]
    env.step(np.zeros(4, np.float32))  # past 500 (a longer --data.horizon): no error


def test_data_horizon_sets_the_collectors_episode_length():
    collector = Collector("ml1-reach", None, seed=0, horizon=40)
    assert collector.horizon == 40 and collector.envs[0].max_episode_steps == 40
    result = collector.rollout(collector.train_tasks[:1], 100, lambda o: torch.zeros(1, 4))
    assert result.batch.truncated[0].nonzero().flatten().tolist() == [39, 79]
    assert len(result.episode_returns) == 2
    with pytest.raises(ValueError, match="horizon must be a positive number"):
        Collector("ml1-reach", None, seed=0, horizon=0)


# ------------------------------------------------------------------ success
@pytest.mark.parametrize(
    ("family", "count"), [("ml1-reach", 5), ("ml1-push", 3), ("ml1-pick-place", 3)]
)
def test_scripted_policies_succeed_and_the_collector_says_so(family, count):
    """Meta-World's own scripted policies, told the goal, solve the test goals (measured under
    MuJoCo 4 with the weld patch: docs/metaworld.md); random actions do not."""
    collector = Collector(family, None, seed=0)
    tasks = list(collector.test_tasks[:count])
    returns = collector.run_episodes(tasks, scripted_act_fn(collector, tasks))
    assert collector.last_success is not None and collector.last_success.tolist() == [True] * count
    # Seeded: a random reach sometimes lands within 5 cm of a goal (1 of 35 episodes measured),
    # so unseeded actions made this check flaky. These 5 episodes fail, as most do.
    gen = torch.Generator().manual_seed(0)
    random_returns = collector.run_episodes(
        tasks, lambda o: torch.rand(len(o), 4, generator=gen) * 2 - 1
    )
    assert collector.last_success.tolist() == [False] * count
    assert returns.mean() > random_returns.mean() + 500  # rewards of 0..10 per step


def test_the_array_touching_object_agrees_with_metaworlds():
    """Along a scripted pick-place episode (grasp, lift, place): the same answer at every step,
    and the grasp is seen."""
    from metaworld.sawyer_xyz_env import SawyerXYZEnv

    env = make_env("ml1-pick-place")
    env.set_task(env.test_tasks[0])
    obs, _ = env.reset(seed=0)
    policy = scripted_policy("pick-place-v3")
    inner = env._inner
    answers = []
    for _ in range(150):
        full = obs.copy()
        full[GOAL_SLICE] = inner._target_pos
        obs, *_ = env.step(policy.get_action(full))
        geom = inner._get_id_main_object()
        ours = inner.touching_object(geom)
        assert ours == SawyerXYZEnv.touching_object(inner, geom)
        answers.append(ours)
    assert 20 < sum(answers) < 150  # both answers occur


def test_the_collection_benchmark_measures_a_meta_world_family():
    import math

    from mier_pl.bench.data import bench_collection

    row = bench_collection("ml1-reach", 0.05, "cpu")
    assert row["figure"] == "collection ml1-reach" and row["unit"] == "env steps/s"
    assert math.isfinite(row["ratio"]) and 0 < row["ratio"] < 2
