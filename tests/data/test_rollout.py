"""Lockstep collection (mier_pl/data/rollout.py) on point-goal, where every number is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mier_pl.data.rollout import Collector

ACTION = np.array([0.5, -0.3], dtype=np.float32)
HORIZON = 30


def constant_policy(seen: list):
    def act(obs: torch.Tensor) -> torch.Tensor:
        assert obs.dtype == torch.float32 and obs.shape[1] == 2
        seen.append(obs.clone())
        return torch.from_numpy(ACTION).expand(obs.shape[0], 2)

    return act


def expected_episode(goal, steps: int):
    """Positions move by exactly 0.1·a per step from the origin; a reset every 30 steps."""
    a = ACTION.astype(np.float64)
    obs, nxt, rew = np.zeros((steps, 2)), np.zeros((steps, 2)), np.zeros(steps)
    pos = np.zeros(2)
    for t in range(steps):
        if t % HORIZON == 0:
            pos = np.zeros(2)
        obs[t] = pos
        pos = pos + 0.1 * a
        nxt[t] = pos
        rew[t] = -np.linalg.norm(pos - np.asarray(goal))
    return obs, nxt, rew


def test_constant_action_positions_rewards_and_horizon_cut():
    collector = Collector("point-goal", None, seed=0)
    assert collector.horizon == HORIZON
    tasks = [collector.train_tasks[3], collector.test_tasks[0]]
    seen: list = []
    result = collector.rollout(tasks, 65, constant_policy(seen))
    b = result.batch
    assert b.batch_shape == (2, 65) and b.obs.shape == (2, 65, 2) and b.act.shape == (2, 65, 2)
    assert len(seen) == 65 and all(s.shape == (2, 2) for s in seen)  # one call per step
    returns = []
    for i, task in enumerate(tasks):
        obs, nxt, rew = expected_episode(task.goal, 65)
        np.testing.assert_array_equal(b.obs[i].numpy(), obs.astype(np.float32))
        np.testing.assert_array_equal(b.next_obs[i].numpy(), nxt.astype(np.float32))
        np.testing.assert_array_equal(b.rew[i].numpy(), rew.astype(np.float32))
        np.testing.assert_array_equal(b.act[i].numpy(), np.tile(ACTION, (65, 1)))
        returns.append(rew[:HORIZON].sum())
        # The policy saw the same observations that were stored.
        np.testing.assert_array_equal(torch.stack(seen)[:, i].numpy(), obs.astype(np.float32))
    # The step that reaches the horizon (t = 29, 59) is truncated, never terminated.
    cut = np.zeros(65)
    cut[[29, 59]] = 1
    for i in range(2):
        np.testing.assert_array_equal(b.truncated[i].numpy(), cut)
        np.testing.assert_array_equal(b.terminated[i].numpy(), np.zeros(65))
    # The truncated step's next_obs is the last position, not the reset origin.
    np.testing.assert_allclose(b.next_obs[0, 29].numpy(), 3.0 * ACTION, rtol=1e-6)
    np.testing.assert_array_equal(b.obs[0, 30].numpy(), [0.0, 0.0])
    # Finished episodes, in the order they ended: task 0, task 1 at t = 29, again at t = 59.
    np.testing.assert_allclose(result.episode_returns, returns * 2, rtol=1e-12)
    assert collector.env_steps == 130
    collector.rollout(tasks, 5, constant_policy([]), count=False)
    assert collector.env_steps == 130


def test_run_episodes_returns_the_undiscounted_episode_return():
    collector = Collector("point-goal", None, seed=0)
    tasks = [collector.train_tasks[0], collector.train_tasks[7], collector.test_tasks[9]]
    returns = collector.run_episodes(tasks, constant_policy([]))
    expected = [expected_episode(t.goal, HORIZON)[2].sum() for t in tasks]
    np.testing.assert_allclose(returns, expected, rtol=1e-12)
    assert collector.env_steps == 0  # evaluation episodes are not training samples


def random_policy(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return lambda obs: torch.rand(obs.shape[0], 2, generator=gen) * 2 - 1


def test_same_seed_same_batches():
    batches = []
    for _ in range(2):
        collector = Collector("point-goal", None, seed=5)
        tasks = [collector.train_tasks[i] for i in (1, 2, 3)]
        batches.append(collector.rollout(tasks, 40, random_policy(0)).batch)
    for name in ("obs", "act", "rew", "next_obs", "terminated", "truncated"):
        assert torch.equal(getattr(batches[0], name), getattr(batches[1], name)), name


def test_state_dict_round_trip_restores_the_env_generators():
    collector = Collector("point-goal", None, seed=0)
    collector.rollout(list(collector.train_tasks[:3]), 10, random_policy(1))
    state = collector.state_dict()
    json.dumps(state)  # plain data
    assert len(state["env_rng"]) == 3 and state["env_steps"] == 30
    draws = [env.np_random.random(4) for env in collector.envs]
    collector.load_state_dict(state)
    for env, d in zip(collector.envs, draws):
        np.testing.assert_array_equal(env.np_random.random(4), d)

    # A collector seeded differently draws differently until it loads the state.
    assert not np.array_equal(
        Collector("point-goal", None, seed=99).envs[0].np_random.random(4), draws[0]
    )
    fresh = Collector("point-goal", None, seed=99)
    fresh.load_state_dict(state)
    assert len(fresh.envs) == 3 and fresh.env_steps == 30
    for env, d in zip(fresh.envs, draws):
        np.testing.assert_array_equal(env.np_random.random(4), d)


@pytest.mark.parametrize("family", ["point-goal", "point-rotated"])
def test_env_seeds_are_seed_plus_index(family):
    collector = Collector(family, None, seed=7)
    collector.rollout(list(collector.train_tasks[:2]), 1, random_policy(0))
    for i, env in enumerate(collector.envs):
        np.testing.assert_array_equal(
            env.np_random.random(3), np.random.default_rng(7 + i).random(3)
        )


def test_policy_calls_run_at_highest_precision_and_the_run_setting_is_restored():
    """Collection's batches of a few states are slower under oneDNN ("medium"), so the
    collector pins "highest" for its policy calls and restores the run's setting after."""
    seen = []

    def act(obs: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_float32_matmul_precision())
        return torch.from_numpy(ACTION).expand(obs.shape[0], 2)

    collector = Collector("point-goal", None, seed=0)
    tasks = collector.train_tasks[:2]
    torch.set_float32_matmul_precision("medium")
    try:
        collector.rollout(tasks, 3, act)
        collector.run_episodes(tasks, act)
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision("highest")
    assert len(seen) == 3 + HORIZON and set(seen) == {"highest"}


def test_the_policy_gets_cpu_observations_and_the_batch_lands_on_the_collectors_device():
    """The policy moves observations itself (a CPU copy of the actor needs no copy per step);
    the stored batch goes to the replay's device ("meta" stands in for a GPU)."""
    seen: list[torch.Tensor] = []
    collector = Collector("point-goal", None, seed=0, device="meta")
    result = collector.rollout(collector.train_tasks[:2], 4, constant_policy(seen))
    assert len(seen) == 4 and all(obs.device.type == "cpu" for obs in seen)
    assert result.batch.obs.device.type == "meta" and result.batch.obs.shape == (2, 4, 2)
    returns = collector.run_episodes(collector.train_tasks[:1], constant_policy(seen))
    assert seen[-1].device.type == "cpu" and returns.shape == (1,)


# ------------------------------------------------ success flags and the horizon
class _SuccessPointGoal:
    """point-goal whose step reports ``info["success"]`` once x > 0.25 (a Meta-World stand-in)."""

    def __new__(cls, family_seed=None):
        from mier_pl.envs.point import PointGoalEnv

        class Env(PointGoalEnv):
            reports_success = True

            def step(self, action):
                obs, reward, terminated, truncated, _ = super().step(action)
                return obs, reward, terminated, truncated, {"success": bool(obs[0] > 0.25)}

        return Env(family_seed)


def test_run_episodes_reports_whether_an_episode_ever_succeeded(monkeypatch):
    monkeypatch.setattr(
        "mier_pl.data.rollout.make_env", lambda family, seed=None: _SuccessPointGoal(seed)
    )
    collector = Collector("point-goal", None, seed=0)
    tasks = collector.train_tasks[:3]
    # env 0 goes right for 4 steps (x = 0.3 > 0.25) and then left to x = -2.2: it succeeded
    # once and ends far from success; env 1 always goes left, env 2 stays
    steps = []

    def act(obs):
        steps.append(obs[0, 0].item())
        first = 1.0 if len(steps) <= 4 else -1.0
        return torch.tensor([[first, 0.0], [-1.0, 0.0], [0.0, 0.0]])

    collector.run_episodes(tasks, act)
    assert max(steps) > 0.25 and collector.envs[0]._pos[0] < -2.0
    assert collector.last_success.tolist() == [True, False, False]


def test_families_without_success_leave_none():
    collector = Collector("point-goal", None, seed=0)
    collector.run_episodes(collector.train_tasks[:2], constant_policy([]))
    assert collector.last_success is None and not collector.reports_success


def test_horizon_override_cuts_episodes_there():
    collector = Collector("point-goal", None, seed=0, horizon=7)
    assert collector.horizon == 7
    result = collector.rollout(collector.train_tasks[:1], 21, constant_policy([]))
    assert result.batch.truncated[0].nonzero().flatten().tolist() == [6, 13, 20]
    seen: list = []
    collector.run_episodes(collector.train_tasks[:1], constant_policy(seen))
    assert len(seen) == 7
    with pytest.raises(ValueError, match="horizon must be a positive number of steps, got 0"):
        Collector("point-goal", None, seed=0, horizon=0)
