"""``mier_pl.cli.parser``: jsonargparse's nested errors condensed to one line."""

from __future__ import annotations

import pytest
from jsonargparse import ArgumentError

from mier_pl.cli.parser import MIERArgumentParser, condense
from mier_pl.ranges import PositiveInt

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
