"""``python -m mier_pl check_family PATH_OR_NAME``: a task family against the MetaEnv contract.

Like Stable-Baselines3's ``check_env``, but for what mier_pl needs of a *family* beyond
Gymnasium's API: one line per problem, each naming the fix, and a non-zero exit if any.
Checked, with short rollouts (a few seconds per family):

- the class: a MetaEnv subclass with ``family``, ``env_id``, ``reward_only``, ``task_type``
  and its own ``make_tasks``, ``step`` and ``reset`` (also checked when a config names it);
- spaces and dtypes: a 1-D float Box observation, a ``Box(-1, 1, (n,), float32)`` action
  (the tanh policy acts in [-1, 1]); ``reset``/``step`` return what the spaces say, a finite
  float reward, a bool ``terminated``, and ``truncated`` never before ``max_episode_steps``;
- the task lists: a function of the family seed alone, of ``task_type``, hashable, and
  train and test disjoint where ``disjoint_splits`` says so;
- ``set_task``: switches in place (the same MuJoCo model) and refuses a foreign task;
- ``termination_fn``: batched over any leading dims of torch tensors, and agreeing with
  ``step``'s ``terminated`` on rollouts;
- ``encode_task`` (when defined): a finite float32 vector of one size for every task;
- ``reward_only``: when True, the same actions from the same start give the same next
  states under every task (only the reward may change); when False, they do not;
- the horizon: ``max_episode_steps`` positive, and ``gym.make(env_id)`` builds the family
  with that time limit.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from mier_pl.envs.meta_env import MetaEnv
from mier_pl.envs.registry import (
    FAMILY_NAMES,
    FamilyError,
    _classes,
    family_class,
    family_label,
)

ROLLOUT_STEPS = 40  # per episode; enough for the rules to show, short enough to stay fast
Report = Callable[[str], None]


class _ForeignTask:
    """A task of no family: ``set_task`` must refuse it."""


def check_family(
    family: str | type[MetaEnv], family_seed: int | None = None, steps: int = ROLLOUT_STEPS
) -> list[str]:
    """The problems of ``family`` (a built-in name, a ``"module:Class"`` path or the class),
    one line each, prefixed with the family; empty when it keeps the contract.

    Args:
        family: the family to check.
        family_seed: seed of its task lists (``None``: the family's default).
        steps: steps per rollout episode (each check rolls out at most a few episodes).
    """
    label = family_label(family)
    try:
        cls = family_class(family)
    except FamilyError as err:
        return [str(err)]
    missing = cls.missing_dependency()
    if missing:
        return [f"{label}: {missing}"]
    problems: list[str] = []

    def report(message: str) -> None:
        problems.append(f"{label}: {message}")

    states = np.random.get_state(), random.getstate(), torch.get_rng_state()
    _seed_globals(1)  # _task_lists builds a second env under other global seeds
    try:
        env = cls(family_seed=family_seed)
    except Exception as err:
        return [f"{label}: {cls.__name__}(family_seed=...) raised {type(err).__name__}: {err}"]
    finally:
        np.random.set_state(states[0])
        random.setstate(states[1])
        torch.set_rng_state(states[2])
    checks = (
        _class_variables,
        _spaces,
        _task_lists,
        _set_task,
        _rollouts,
        _encode_task,
        _reward_only,
        _registration,
    )
    for check in checks:
        try:
            check(cls, env, report, family_seed=family_seed, steps=steps)
        except Exception as err:  # a check that cannot finish is itself a problem to report
            report(f"{check.__name__.strip('_')}: raised {type(err).__name__}: {err}")
    env.close()
    return problems


def _seed_globals(seed: int) -> None:
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)


# ------------------------------------------------------------------ checks
def _class_variables(cls: type[MetaEnv], env: MetaEnv, report: Report, **_: Any) -> None:
    if not isinstance(cls.family, str) or not cls.family:
        report("family must be a non-empty string (the name in logs and checkpoints)")
    if not isinstance(cls.reward_only, bool):
        report(f"reward_only must be True or False, got {cls.reward_only!r}")
    if not isinstance(cls.task_type, type):
        report(f"task_type must be the class of a task (a frozen dataclass), got {cls.task_type!r}")
    steps = cls.max_episode_steps
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        report(f"max_episode_steps must be a positive int (the horizon), got {steps!r}")
    try:
        gym.envs.registration.parse_env_id(cls.env_id)
    except Exception:
        report(f"env_id {cls.env_id!r} is not a Gymnasium id; write 'my_package/MyFamily-v0'")
    builtins = _classes()
    if cls not in builtins.values():
        if cls.family in FAMILY_NAMES:
            report(
                f"family {cls.family!r} is a built-in family's name (inherited?); set family "
                "to a name of your own so runs and checkpoints are not mixed up"
            )
        if cls.env_id in {c.env_id for c in builtins.values()}:
            report(f"env_id {cls.env_id!r} is a built-in family's id; set env_id of your own")
    if not hasattr(env, "family_seed"):
        report("no family_seed: build the task lists with self._init_tasks(family_seed)")
    try:
        env.task  # noqa: B018
    except AttributeError:
        report("no current task after __init__: end it with self.set_task(self.train_tasks[0])")


def _spaces(cls: type[MetaEnv], env: MetaEnv, report: Report, **_: Any) -> None:
    obs_space, act_space = env.observation_space, env.action_space
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        report(f"observation_space must be a 1-D gymnasium.spaces.Box, got {obs_space!r}")
    elif not np.issubdtype(obs_space.dtype, np.floating):
        report(f"observation_space dtype must be float (float64 or float32), got {obs_space.dtype}")
    box = isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1
    if not (
        box
        and act_space.dtype == np.float32
        and np.all(act_space.low == -1.0)
        and np.all(act_space.high == 1.0)
    ):
        report(
            f"action_space must be Box(-1.0, 1.0, (n,), float32), got {act_space!r}: the tanh "
            "policy acts in [-1, 1]; map actions onto your actuators inside step "
            "(MujocoMetaEnv maps them onto ctrlrange)"
        )


def _task_lists(
    cls: type[MetaEnv], env: MetaEnv, report: Report, family_seed: int | None, **_: Any
) -> None:
    train, test = env.train_tasks, env.test_tasks
    if not isinstance(train, tuple) or not isinstance(test, tuple) or not train:
        report("train_tasks must be a non-empty tuple and test_tasks a tuple: use _init_tasks")
        return
    foreign = [t for t in train + test if not isinstance(t, cls.task_type)]
    if foreign:
        report(
            f"{len(foreign)} tasks are not of task_type {cls.task_type.__name__} (first: "
            f"{foreign[0]!r}); make_tasks must return {cls.task_type.__name__} instances"
        )
    try:
        for task in train + test:
            hash(task)
    except TypeError:
        report(
            f"tasks must be hashable and compared by value (a @dataclass(frozen=True) of "
            f"numbers and tuples), got {type(task).__name__}"
        )
        return
    # The same seed must give the same tasks whatever the global generators hold (the first
    # env was built under global seed 1).
    states = np.random.get_state(), random.getstate(), torch.get_rng_state()
    _seed_globals(2)
    try:
        again = cls(family_seed=family_seed)
    finally:
        np.random.set_state(states[0])
        random.setstate(states[1])
        torch.set_rng_state(states[2])
    again.close()
    if again.train_tasks != train or again.test_tasks != test:
        report(
            "train_tasks/test_tasks differ between two envs of the same family seed: draw "
            "them only from make_tasks' rng (never np.random, random or torch)"
        )
    if cls.disjoint_splits:
        shared = set(train) & set(test)
        if shared:
            report(
                f"{len(shared)} test tasks are also train tasks (first: {next(iter(shared))!r}); "
                "make the splits disjoint or set disjoint_splits = False"
            )


def _set_task(cls: type[MetaEnv], env: MetaEnv, report: Report, **_: Any) -> None:
    split = "test" if env.test_tasks else "train"
    target = env.tasks(split)[-1]
    model = getattr(env, "model", None)
    env.set_task(target)
    if env.task != target:
        report(f"after set_task({target!r}) env.task is {env.task!r}; set_task must switch to it")
    env.set_task(env.train_tasks[0])  # back: a family may hold one model per task (ml10)
    if getattr(env, "model", None) is not model:
        report("set_task rebuilt the MuJoCo model; change its parameters in place in _apply_task")
    env.set_task(target)
    try:
        env.set_task(_ForeignTask())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        if env.task != target:
            report("a refused set_task changed env.task; check the task before switching")
    else:
        report(
            "set_task accepted a task of no family; keep MetaEnv.set_task (it checks "
            "task_type) and put the family's change in _apply_task"
        )
    env.set_task(env.train_tasks[0])


def _rollout(env: MetaEnv, task: Any, actions: np.ndarray, seed: int, report: Report) -> dict:
    """One episode of ``actions`` under ``task`` from ``reset(seed=seed)``; checks each value
    against the spaces (reporting the first problem of each kind) and returns the arrays."""
    env.set_task(task)
    out = env.reset(seed=seed)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        report("reset must return (obs, info dict)")
        return {}
    obs = out[0]
    _check_obs(env, obs, "reset", report)
    rows: dict[str, list] = {"obs": [], "act": [], "next_obs": [], "reward": [], "terminated": []}
    for t, action in enumerate(actions, start=1):
        result = env.step(action)
        if not (isinstance(result, tuple) and len(result) == 5):
            report("step must return (obs, reward, terminated, truncated, info)")
            break
        next_obs, reward, terminated, truncated, _ = result
        _check_obs(env, next_obs, "step", report)
        if not isinstance(reward, (float, np.floating)) or not np.isfinite(reward):
            report(f"step's reward must be a finite float, got {reward!r}")
        if not isinstance(terminated, (bool, np.bool_)):
            report(f"step's terminated must be a bool, got {type(terminated).__name__}")
        if truncated and t < env.max_episode_steps:
            report(
                f"step returned truncated=True after {t} steps, before max_episode_steps "
                f"({env.max_episode_steps}); leave truncation to the time limit (Gymnasium's "
                "TimeLimit and mier_pl's collector cut episodes at max_episode_steps)"
            )
        for key, value in zip(rows, (obs, action, next_obs, reward, bool(terminated))):
            rows[key].append(np.array(value, dtype=np.float64))
        obs = next_obs
        if terminated or truncated:
            break
    return {k: np.array(v) for k, v in rows.items()}


def _check_obs(env: MetaEnv, obs: Any, where: str, report: Report) -> None:
    space = env.observation_space
    if not isinstance(obs, np.ndarray) or obs.shape != space.shape or obs.dtype != space.dtype:
        got = f"{obs.dtype} {obs.shape}" if isinstance(obs, np.ndarray) else type(obs).__name__
        report(
            f"{where} returned an observation of {got}, the observation_space says "
            f"{space.dtype} {space.shape}; return np.ndarray of the space's dtype and shape"
        )
        raise _Reported


class _Reported(Exception):
    """Stops a rollout whose values would only repeat a reported problem."""


def _actions(env: MetaEnv, steps: int, seed: int) -> np.ndarray:
    shape = (steps, *env.action_space.shape)
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


def _rollouts(cls: type[MetaEnv], env: MetaEnv, report: Report, steps: int, **_: Any) -> None:
    """The API on rollouts, and termination_fn on them and on batches of any leading dims."""
    seen: set[str] = set()

    def once(message: str) -> None:
        if message not in seen:
            seen.add(message)
            report(message)

    tasks = [env.train_tasks[0], *(env.test_tasks[-1:] or env.train_tasks[-1:])]
    episodes = []
    for i, task in enumerate(tasks):
        try:
            episodes.append(_rollout(env, task, _actions(env, steps, i), seed=i, report=once))
        except _Reported:
            return
    env.set_task(env.train_tasks[0])
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    for lead in [(), (7,), (3, 4)]:
        try:
            out = env.termination_fn(
                torch.zeros(*lead, obs_dim),
                torch.zeros(*lead, act_dim),
                torch.zeros(*lead, obs_dim),
            )
        except Exception as err:
            report(
                f"termination_fn failed on torch tensors of shape {(*lead, obs_dim)}: "
                f"{type(err).__name__}: {err}; write it with torch ops over next_obs[..., i]"
            )
            return
        if not (isinstance(out, torch.Tensor) and out.dtype == torch.bool and out.shape == lead):
            got = f"{out.dtype} {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out)
            report(
                f"termination_fn must return a bool tensor of shape next_obs.shape[:-1] "
                f"{lead}, got {got}"
            )
            return
    episodes = [e for e in episodes if e and len(e["terminated"])]
    if not episodes:
        return
    batch = {k: np.concatenate([e[k] for e in episodes]) for k in ("obs", "act", "next_obs")}
    said = np.concatenate([e["terminated"] for e in episodes]).astype(bool)
    rule = env.termination_fn(
        *(torch.as_tensor(batch[k], dtype=torch.float32) for k in ("obs", "act", "next_obs"))
    )
    rule = rule.cpu().numpy().astype(bool)
    wrong = np.flatnonzero(rule != said)
    if wrong.size:
        i = int(wrong[0])
        report(
            f"termination_fn disagrees with step's terminated on {wrong.size} of {said.size} "
            f"rollout transitions (first: step said {bool(said[i])}, termination_fn "
            f"{bool(rule[i])}); make both apply the same rule to next_obs"
        )


def _encode_task(cls: type[MetaEnv], env: MetaEnv, report: Report, **_: Any) -> None:
    tasks = env.train_tasks + env.test_tasks
    try:
        codes = [env.encode_task(t) for t in tasks]
    except NotImplementedError:
        return  # optional: no oracle-context baseline for this family
    first = codes[0]
    for task, code in zip(tasks, codes):
        if not (
            isinstance(code, np.ndarray)
            and code.ndim == 1
            and code.dtype == np.float32
            and code.shape == np.shape(first)
        ):
            got = f"{code.dtype} {code.shape}" if isinstance(code, np.ndarray) else type(code)
            report(
                f"encode_task({task!r}) gave {got}; return a 1-D float32 np.ndarray of one "
                f"size for every task ({np.shape(first)} for the first)"
            )
            return
        if not np.all(np.isfinite(code)):
            report(f"encode_task({task!r}) is not finite: {code}; scale it to about [-1, 1]")
            return
    if len(set(tasks)) > 1 and all(np.array_equal(c, first) for c in codes):
        report("encode_task gives every task the same vector; encode what differs between them")
    parameter = env.task_parameter(tasks[0])
    if parameter is not None and not (
        isinstance(parameter, tuple)
        and isinstance(parameter[0], str)
        and isinstance(parameter[1], float)
    ):
        report(f"task_parameter must return None or (name, float), got {parameter!r}")


def _reward_only(cls: type[MetaEnv], env: MetaEnv, report: Report, steps: int, **_: Any) -> None:
    """Same start, same actions, three tasks: the next states must (not) depend on the task."""
    tasks = list(dict.fromkeys([env.train_tasks[0], env.train_tasks[-1], *env.test_tasks[:1]]))
    if len(tasks) < 2:
        return
    actions = _actions(env, steps, 99)
    try:  # the API problems were reported by _rollouts
        runs = [_rollout(env, task, actions, seed=99, report=lambda m: None) for task in tasks]
    except _Reported:
        return
    env.set_task(env.train_tasks[0])
    same_states, same_rewards, compared = True, True, 0
    first_diff = ""
    for j in range(1, len(tasks)):
        a, b = runs[0], runs[j]
        if not a or not b or not np.array_equal(a["obs"][:1], b["obs"][:1]):
            continue  # different starts (the task moves an object): nothing to compare
        n = min(len(a["next_obs"]), len(b["next_obs"]))
        compared += 1
        close = np.isclose(a["next_obs"][:n], b["next_obs"][:n], rtol=1e-9, atol=1e-12)
        if not close.all():
            same_states = False
            step = int(np.flatnonzero(~close.all(axis=1))[0])
            first_diff = first_diff or f"tasks {tasks[0]!r} and {tasks[j]!r} at step {step}"
        same_rewards &= bool(np.array_equal(a["reward"][:n], b["reward"][:n]))
    if not compared:
        return
    if cls.reward_only and not same_states:
        report(
            f"reward_only is True but the next states depend on the task ({first_diff}, same "
            "start and actions); set reward_only = False (joint model, rollout relabeling)"
        )
    elif not cls.reward_only and same_states and not same_rewards:
        report(
            "reward_only is False but only the reward depends on the task (same start and "
            "actions give the same next states); set reward_only = True (cheaper relabeling)"
        )
    elif same_states and same_rewards:
        report(
            "the tasks change neither the next states nor the rewards: apply each task's "
            "parameters in _apply_task (called by set_task)"
        )


def _registration(cls: type[MetaEnv], env: MetaEnv, report: Report, **_: Any) -> None:
    builtin_ids = {c.env_id for c in _classes().values()}
    if cls.max_episode_steps <= 0 or (cls not in _classes().values() and cls.env_id in builtin_ids):
        return  # reported by _class_variables
    try:
        spec = gym.spec(cls.env_id)
    except gym.error.Error:
        report(f"{cls.env_id} is not registered with Gymnasium; call mier_pl.envs.register_family")
        return
    if spec.max_episode_steps != cls.max_episode_steps:
        report(
            f"{cls.env_id} is registered with max_episode_steps {spec.max_episode_steps}, the "
            f"class says {cls.max_episode_steps}; give each family its own env_id"
        )
    made = gym.make(cls.env_id, disable_env_checker=True)  # ours is this module
    if type(made.unwrapped) is not cls:
        report(
            f"gym.make({cls.env_id!r}) builds {type(made.unwrapped).__name__}, not "
            f"{cls.__name__}; give the family an env_id of its own"
        )
    made.close()


# -------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mier_pl check_family``."""
    parser = argparse.ArgumentParser(
        prog="python -m mier_pl check_family",
        description="Check task families against the MetaEnv contract (docs/custom_family.md).",
    )
    parser.add_argument(
        "families",
        nargs="+",
        metavar="PATH_OR_NAME",
        help="a built-in family name, 'package.module:Class', or 'all' (every built-in family)",
    )
    parser.add_argument(
        "--family_seed",
        type=int,
        default=None,
        help="seed of the task lists (default: the family's)",
    )
    parser.add_argument(
        "--steps", type=int, default=ROLLOUT_STEPS, help="steps per rollout episode (default: 40)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Check each family named in ``argv``; print one line per problem (or ``ok``).

    Returns:
        0 when every family keeps the contract, 1 otherwise.
    """
    args = build_parser().parse_args(argv)
    names = [n for f in args.families for n in (FAMILY_NAMES if f == "all" else [f])]
    failed = False
    for name in names:
        problems = check_family(name, args.family_seed, args.steps)
        print("\n".join(problems) if problems else f"{name}: ok")
        failed |= bool(problems)
    return int(failed)


if __name__ == "__main__":
    raise SystemExit(main())
