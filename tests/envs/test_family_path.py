"""Families by import path: ``"package.module:Class"`` wherever a built-in name goes, and one
line naming the problem and the fix for each way the path can be wrong."""

from __future__ import annotations

import gymnasium as gym
import pytest

from mier_pl.data.datamodule import ReplayDataModule
from mier_pl.envs import (
    FAMILY_NAMES,
    FamilyError,
    FamilyName,
    family_class,
    make_env,
    register_family,
)
from tests.envs.broken_families import GoodPoint

GOOD = "tests.envs.broken_families:GoodPoint"


def test_a_path_resolves_to_the_class_and_registers_it_with_gymnasium():
    assert family_class(GOOD) is GoodPoint
    assert family_class(GoodPoint) is GoodPoint
    env = make_env(GOOD, family_seed=3)
    assert type(env) is GoodPoint and env.family_seed == 3
    register_family(GOOD)  # idempotent; what a user calls before gym.make
    made = gym.make("tests/GoodPoint-v0")
    assert type(made.unwrapped) is GoodPoint and made.spec.max_episode_steps == 30


@pytest.mark.parametrize(
    ("family", "message"),
    [
        ("cheetah", "unknown task family 'cheetah'; valid families are: point-goal, point-"),
        ("no_such_module:Family", "module 'no_such_module' cannot be imported"),
        ("tests.envs.broken_families:Missing", "has no attribute 'Missing'; check the class"),
        ("tests.envs.broken_families:NotAFamily", "not a MetaEnv subclass; derive it from"),
        ("tests.envs.broken_families:NoTaskType", "does not set the class variable task_type"),
        ("tests.envs.broken_families:NoMakeTasks", "does not implement make_tasks"),
        ("my package:Family", "is not an import path; write 'package.module:ClassName'"),
    ],
)
def test_each_bad_family_is_one_line_with_the_fix(family, message):
    with pytest.raises(FamilyError, match=message) as err:
        family_class(family)
    assert "\n" not in str(err.value)
    with pytest.raises(FamilyError, match=message):
        ReplayDataModule(family=family)  # the Python API refuses it the same way


def test_the_unknown_name_message_lists_every_builtin_family_and_the_path_form():
    with pytest.raises(FamilyError) as err:
        FamilyName("nope")
    assert all(name in str(err.value) for name in FAMILY_NAMES)
    assert "'package.module:ClassName'" in str(err.value)


def test_the_data_module_takes_a_path_and_keeps_it_as_a_plain_string():
    data = ReplayDataModule(family=FamilyName(GOOD), meta_batch_size=2, capacity=10)
    assert type(data.family) is str and data.family == GOOD
    assert (data.obs_dim, data.act_dim, data.num_train_tasks) == (2, 2, 40)
    assert data.reward_only and data.task_encoding_dim == 2 and data.horizon == 30


@pytest.mark.parametrize(
    ("family", "message"),
    [
        ("nope", "unknown task family 'nope'; valid families are: point-goal"),
        ("tests.envs.broken_families:NotAFamily", "not a MetaEnv subclass"),
        ("no_such_module:Family", "module 'no_such_module' cannot be imported"),
    ],
)
def test_the_cli_refuses_a_bad_family_in_one_line_before_building_anything(
    run_cli, capsys, family, message
):
    from tests.conftest import CONF

    with pytest.raises(SystemExit) as exit_:
        run_cli("fit", "--config", CONF / "point_goal.yaml", "--data.family", family)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --data.family: ") and message in err and "\n" not in err


def test_the_cli_prints_a_path_family_as_given(run_cli, capsys):
    from tests.conftest import CONF

    with pytest.raises(SystemExit):
        run_cli(
            "fit", "--config", CONF / "point_goal.yaml", "--data.family", GOOD, "--print_config"
        )
    assert f"family: {GOOD}" in capsys.readouterr().out
