"""``mier_pl.cli.parser``: jsonargparse's nested errors condensed to one line."""

from __future__ import annotations

import pytest
from jsonargparse import ArgumentError

from mier_pl.cli.parser import MIERArgumentParser, condense
from mier_pl.ranges import PositiveInt
from tests.conftest import CONF

NESTED = """Parser key "model":
  Does not validate against any of the Union subtypes
  Errors:
    - Expected a <class 'NoneType'>
    - Problem with given class_path 'mier_pl.modules.MIERModule':
        Parser key "collect":
          Errors:
            - Problem with given class_path 'mier_pl.modules.CollectConfig':
                Parser key "prior_steps":
                  Not of type PositiveInt: -10 does not conform to restriction v>0
  Given value: NestedArg(key='collect.prior_steps', val='-10')"""


def test_a_nested_range_error_names_the_cli_key():
    # init_args after the module's class, none after a dataclass group
    assert condense(NESTED) == (
        "--model.init_args.collect.prior_steps -10 is out of range (allowed: v>0)"
    )


def test_other_errors_are_left_to_jsonargparse():
    assert condense("Parser key \"data.family\":\n  Expected a <class 'int'>") is None


def test_a_nested_parser_passes_the_full_message_up():
    """Parsers that do not exit are nested: the enclosing one needs every key to name it."""
    parser = MIERArgumentParser(exit_on_error=False)
    parser.add_argument("--n", type=PositiveInt | None)
    with pytest.raises(ArgumentError, match=r'Parser key "n"') as exc:
        parser.parse_args(["--n", "-3"])
    assert condense(str(exc.value)) == "--n -3 is out of range (allowed: v>0)"


UNKNOWN_NESTED = """Parser key "model":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'NoneType'>, <class 'pytorch_lightning.core.module.LightningModule'>]
  Errors:
    - Expected a <class 'NoneType'>
    - Problem with given class_path 'mier_pl.modules.MIERModule':
        unrecognized arguments: --sac.no_such_key=3
  Given value type: <class 'jsonargparse._util.NestedArg'>
  Given value: NestedArg(key='sac.no_such_key', val='3')"""

WRONG_TYPE = """Parser key "data.batch_size":
  Not of type PositiveInt: invalid literal for int() with base 10: '1e3'"""

NOT_INT = """Parser key "trainer.max_epochs":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'NoneType'>, <class 'int'>]
  Errors:
    - Expected a <class 'NoneType'>
    - Expected a <class 'int'>
  Given value type: <class 'str'>
  Given value: x"""


def test_an_unknown_nested_option_names_the_key_value_and_class():
    assert condense(UNKNOWN_NESTED) == (
        "--model.init_args.sac.no_such_key 3: MIERModule has no option 'sac.no_such_key'; "
        "check its spelling (see --help or --print_config for the accepted options)"
    )


def test_a_value_of_the_wrong_type_names_the_key_value_and_fix():
    assert condense(WRONG_TYPE) == (
        "--data.batch_size 1e3 is not a PositiveInt (invalid literal for int() with base 10: "
        "'1e3'); pass a whole number (see --help or --print_config for the accepted options); "
        "write '1e3' without an exponent or a point"
    )
    assert condense(NOT_INT) == (
        "--trainer.max_epochs x is not a value of type null or int; pass one (see --help or "
        "--print_config for the accepted options)"
    )


@pytest.mark.parametrize(
    "text, what",
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("- 1\n", "holds a list"),
        ("3\n", "holds the single value 3"),
    ],
)
def test_a_config_file_that_is_not_a_mapping_is_named_in_one_line(tmp_path, capsys, text, what):
    from mier_pl.cli.main import main

    config = tmp_path / "overlay.yaml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", str(CONF / "point_goal.yaml"), "--config", str(config)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"error: config file {config} {what}, not a mapping of settings; write it as "
        "`key: value` lines, e.g. `trainer: {max_epochs: 10}` (see conf/debug.yaml)\n"
    )


@pytest.mark.parametrize(
    "args, starts",
    [
        (
            ["--model.init_args.sac.no_such_key", "3"],
            "error: --model.init_args.sac.no_such_key 3: ",
        ),
        (["--data.batch_size", "1e3"], "error: --data.batch_size 1e3 is not a PositiveInt"),
    ],
)
def test_the_cli_prints_only_the_one_line_without_the_usage(capsys, args, starts):
    from mier_pl.cli.main import main

    with pytest.raises(SystemExit):
        main(["fit", "--config", str(CONF / "point_goal.yaml"), *args])
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(starts)
