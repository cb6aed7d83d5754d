"""``python -m mier_pl check_family``: every built-in family passes; each broken family in
tests/envs/broken_families.py is reported, in one line naming its problem."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mier_pl.envs import FAMILY_NAMES
from mier_pl.envs.check import check_family, main
from tests.conftest import ROOT, families

BROKEN = "tests.envs.broken_families"


@pytest.mark.parametrize("family", families(FAMILY_NAMES))
def test_every_builtin_family_keeps_the_contract(family):
    assert check_family(family, steps=20) == []


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("NotAFamily", ["is a class NotAFamily, not a MetaEnv subclass; derive it from"]),
        ("NoTaskType", ["does not set the class variable task_type; set task_type"]),
        ("NoMakeTasks", ["does not implement make_tasks; define make_tasks"]),
        (
            "InheritedName",
            ["family 'point-goal' is a built-in family's name", "a built-in family's id"],
        ),
        ("WideActions", ["action_space must be Box(-1.0, 1.0, (n,), float32), got Box(-2.0"]),
        ("Float32Obs", ["reset returned an observation of float32 (2,), the observation_space"]),
        ("Truncates", ["step returned truncated=True after 1 steps, before max_episode_steps"]),
        ("GlobalRngTasks", ["differ between two envs of the same family seed"]),
        ("SharedSplits", ["1 test tasks are also train tasks"]),
        ("SetTaskUnchecked", ["set_task accepted a task of no family"]),
        ("RebuildsModel", ["set_task rebuilt the MuJoCo model; change its parameters in place"]),
        ("TerminationDisagrees", ["termination_fn disagrees with step's terminated on"]),
        ("TerminationNotBatched", ["termination_fn must return a bool tensor of shape"]),
        ("EncodingNotFinite", ["is not finite: [nan  0.]"]),
        ("EncodingFloat64", ["gave float64 (2,); return a 1-D float32"]),
        ("RewardOnlyLies", ["reward_only is True but the next states depend on the task"]),
        ("RewardOnlyUnclaimed", ["reward_only is False but only the reward depends on the task"]),
        ("TasksChangeNothing", ["the tasks change neither the next states nor the rewards"]),
        ("ZeroHorizon", ["max_episode_steps must be a positive int (the horizon), got 0"]),
    ],
)
def test_each_broken_family_is_reported_once_per_problem(name, problems):
    found = check_family(f"{BROKEN}:{name}", steps=20)
    assert len(found) == len(problems), found
    for line, expected in zip(found, problems):
        assert expected in line and "\n" not in line


def test_a_family_that_keeps_the_contract_has_no_problems():
    assert check_family(f"{BROKEN}:GoodPoint") == []


def test_main_prints_one_line_per_problem_and_exits_non_zero(capsys):
    assert main([f"{BROKEN}:GoodPoint", "point-goal"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{BROKEN}:GoodPoint: ok", "point-goal: ok"]
    assert main([f"{BROKEN}:Truncates", f"{BROKEN}:NotAFamily"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "truncated=True" in out[0] and "not a MetaEnv" in out[1]


def test_python_m_mier_pl_check_family():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [sys.executable, "-m", "mier_pl", "check_family", "point-rotated"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert (ok.returncode, ok.stdout) == (0, "point-rotated: ok\n"), ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "mier_pl", "check_family", "no_such_module:Family"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stdout.startswith("task family 'no_such_module:Family': module 'no_such_module'")
