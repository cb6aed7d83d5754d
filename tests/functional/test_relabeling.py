"""Experience relabeling (spec §6 step 5) against exact answers.

Hand-built "perfect" models with zero variance stand in for the adapted model: relabeled data
must then equal what the real environment gives, so every number is checked exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from mier_pl.data.batch import TransitionBatch
from mier_pl.data.rollout import Collector
from mier_pl.envs import make_env
from mier_pl.envs.point import STEP_SIZE
from mier_pl.envs.registry import family_class
from mier_pl.functional.relabeling import reward_relabel, rollout_relabel


def _step(obs: Tensor, act: Tensor, angle: Tensor | float = 0.0) -> Tensor:
    """The point families' exact dynamics: s' = s + 0.1·R(angle)·clip(a)."""
    a = act.clamp(-1.0, 1.0)
    c, s = torch.cos(torch.as_tensor(angle)), torch.sin(torch.as_tensor(angle))
    rotated = torch.stack([c * a[..., 0] - s * a[..., 1], s * a[..., 0] + c * a[..., 1]], dim=-1)
    return obs + STEP_SIZE * rotated


class PerfectPointModel:
    """The true point model with zero variance; the task sits in the context.

    point-goal: ``context[:, :2]`` is the goal. point-rotated: ``context[:, 0]`` is the angle
    and the goal is (1, 0). Counts its calls, to check one batched pass.
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self.calls = 0

    def _next_and_goal(self, obs: Tensor, act: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        ctx = context[:, None, :]  # [tasks, 1, ctx] against [tasks, N, ·]
        if self.family == "point-goal":
            return _step(obs, act), ctx[..., :2]
        goal = torch.tensor([1.0, 0.0], dtype=obs.dtype)
        return _step(obs, act, ctx[..., 0]), goal

    def predict(self, obs, act, context, generator=None):
        self.calls += 1
        next_obs, goal = self._next_and_goal(obs, act, context)
        return -torch.linalg.vector_norm(next_obs - goal, dim=-1), next_obs

    def sample_reward(self, obs, act, context, generator=None):
        self.calls += 1
        next_obs, goal = self._next_and_goal(obs, act, context)
        return -torch.linalg.vector_norm(next_obs - goal, dim=-1)


def _rollout(family: str, task, steps: int, act_fn) -> TransitionBatch:
    collector = Collector(family, None, seed=0)
    return collector.rollout([task], steps, act_fn, count=False).batch[0]


def _uniform_actions(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return lambda obs: (
        torch.rand(obs.shape[0], 2, generator=gen) * 2.4 - 1.2
    )  # some outside [-1, 1]


def test_reward_relabeling_with_a_perfect_model_gives_the_true_rewards():
    env = make_env("point-goal")
    train_task, test_task = env.train_tasks[0], env.test_tasks[3]
    # Experience from a train task, relabeled for a test task's goal.
    batch = _rollout("point-goal", train_task, 90, _uniform_actions(0))
    goal = torch.tensor(test_task.goal, dtype=torch.float32)
    context = torch.cat([goal, torch.zeros(3)])[None]
    relabeled = reward_relabel(PerfectPointModel("point-goal"), batch, context)
    true = -torch.linalg.vector_norm(batch.next_obs - goal, dim=-1)
    torch.testing.assert_close(relabeled.rew, true, rtol=0, atol=1e-6)
    # ... and they are the rewards the test task's env pays for the very same actions.
    actions = iter(batch.act)
    replay = _rollout("point-goal", test_task, 90, lambda obs: next(actions)[None])
    torch.testing.assert_close(relabeled.rew, replay.rew, rtol=0, atol=1e-6)
    assert not torch.allclose(relabeled.rew, batch.rew)  # the goal did change
    for name in ("obs", "act", "next_obs", "terminated", "truncated"):
        assert torch.equal(getattr(relabeled, name), getattr(batch, name)), name


def test_rollout_relabeling_with_the_true_dynamics_gives_the_true_next_states():
    env = make_env("point-rotated")
    test_task = env.test_tasks[7]
    weights = torch.tensor([[-0.8, 0.5], [0.3, -0.9]])

    def policy(obs: Tensor, context: Tensor) -> Tensor:  # deterministic, so the env can replay it
        return torch.tanh(obs @ weights + 0.4)

    truth = _rollout("point-rotated", test_task, 60, lambda obs: policy(obs, None))
    context = torch.tensor([[test_task.angle, 0.0, 0.0, 0.0, 0.0]])
    model = PerfectPointModel("point-rotated")
    synthetic = rollout_relabel(model, policy, env.termination_fn, truth.obs, context)
    torch.testing.assert_close(synthetic.act, truth.act)
    torch.testing.assert_close(synthetic.next_obs, truth.next_obs, rtol=0, atol=1e-6)
    torch.testing.assert_close(synthetic.rew, truth.rew, rtol=0, atol=1e-6)
    assert not synthetic.terminated.any() and not synthetic.truncated.any()
    # The rotation matters: with a train task's angle the next states differ.
    wrong = rollout_relabel(model, policy, env.termination_fn, truth.obs, torch.zeros(1, 5))
    assert (wrong.next_obs - truth.next_obs).abs().max() > 0.05


def test_synthetic_done_flags_follow_the_ant_rule_on_predicted_states():
    ant = family_class("ant-negated-joints")
    z = torch.tensor([0.1, 0.2, 0.5, 1.0, 1.1, 0.5, 0.5])
    expected = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0])  # [0.2, 1.0] healthy; NaN ends

    class CraftedModel:  # predicts the crafted next states whatever the input
        def predict(self, obs, act, context, generator=None):
            next_obs = torch.zeros(1, len(z), 27)
            next_obs[0, :, 0] = z
            next_obs[0, 5, 7] = math.nan
            return torch.zeros(1, len(z)), next_obs

    obs = torch.full((len(z), 27), 0.55)  # healthy current states: only s' decides

    def act(o: Tensor, c: Tensor) -> Tensor:
        return torch.zeros(o.shape[0], 8)

    synthetic = rollout_relabel(CraftedModel(), act, ant.termination_fn, obs, torch.zeros(1, 5))
    assert torch.equal(synthetic.terminated, expected)
    assert torch.equal(
        synthetic.terminated.bool(), ant.termination_fn(obs, synthetic.act, synthetic.next_obs)
    )
    assert torch.equal(synthetic.truncated, torch.zeros(len(z)))


@pytest.mark.parametrize("kind", ["rollout", "reward"])
def test_100k_transitions_in_one_batched_pass(kind):
    n = 20 * 5000
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(n, 2, generator=gen)
    act = torch.rand(n, 2, generator=gen) * 2 - 1
    batch = TransitionBatch(
        obs, act, torch.zeros(n), _step(obs, act), torch.zeros(n), torch.zeros(n)
    )
    model = PerfectPointModel("point-rotated")
    policy_calls = []

    def policy(o: Tensor, c: Tensor) -> Tensor:
        policy_calls.append(o.shape[0])
        assert c.shape == (o.shape[0], 5)
        return torch.zeros_like(o)

    context = torch.tensor([[0.3, 0.0, 0.0, 0.0, 0.0]])
    if kind == "rollout":
        out = rollout_relabel(
            model, policy, lambda o, a, s: torch.zeros(len(o), dtype=torch.bool), obs, context
        )
        assert policy_calls == [n]
    else:
        out = reward_relabel(model, batch, context)
    assert model.calls == 1 and out.rew.shape == (n,)
    assert np.isfinite(out.rew.numpy()).all()


def test_relabeling_refuses_a_batch_of_contexts():
    with pytest.raises(ValueError, match="one task's context"):
        reward_relabel(
            PerfectPointModel("point-goal"),
            _rollout("point-goal", make_env("point-goal").test_tasks[0], 4, _uniform_actions(0)),
            torch.zeros(2, 5),
        )
