"""The CLI's argument parser: Lightning's, with one-line errors for the common mistakes.

jsonargparse reports a value out of its range inside a subclass (``--model.init_args.collect.
prior_steps -10``) as a 20-line tree of Union alternatives, and a YAML syntax error as "while
parsing a flow sequence in '<unicode string>'", without the file. :class:`MIERArgumentParser`
turns both into one line naming the key (or the file), the value and the fix; any other
error keeps jsonargparse's own message.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pytorch_lightning.cli import LightningArgumentParser

from mier_pl.ranges import RESTRICTION, out_of_range

_KEY = re.compile(r'^(\s*)(?:- )?Parser key "([^"]+)":')
_CLASS = re.compile(r"^(\s*)- Problem with given class_path '([^']+)':")
_NOT_ACCEPTED = re.compile(r"Option '([^']+)' is not accepted")
_GIVEN = re.compile(r"^\s*Given value: (.*)$")


def _is_dataclass_path(class_path: str) -> bool:
    module, _, name = class_path.rpartition(".")
    try:  # jsonargparse has imported it already to report on it
        return dataclasses.is_dataclass(getattr(importlib.import_module(module), name, None))
    except (ImportError, ValueError):
        return False


def _key_path(lines: list[str], index: int) -> tuple[str, str | None]:
    """The dotted CLI key of the message at ``lines[index]`` from its enclosing ``Parser key``
    lines (``model.init_args.collect.prior_steps``), and the innermost class it belongs to."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    parts: list[str] = []
    inner_class: str | None = None
    for line in reversed(lines[:index]):
        own = len(line) - len(line.lstrip())
        if own >= indent:
            continue
        if match := _KEY.match(line):
            parts.insert(0, match.group(2))
            indent = own
        elif match := _CLASS.match(line):
            inner_class = inner_class or match.group(2)
            if not _is_dataclass_path(match.group(2)):  # a subclass's settings are init_args
                parts.insert(0, "init_args")
            indent = own
    return ".".join(parts), inner_class


def condense(message: str) -> str | None:
    """One line for an out-of-range value or an option a (later-selected) class lacks."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        key, inner_class = _key_path(lines, i)
        if match := RESTRICTION.search(line):
            value, restriction = match.groups()
            if not value:  # a Union (``int | None``) names the value further down
                given = next((g for ln in lines[i:] if (g := _GIVEN.match(ln))), None)
                value = given.group(1) if given else "?"
            return out_of_range(key, value, restriction)
        if (match := _NOT_ACCEPTED.search(line)) and inner_class:
            option = f"{key}.{match.group(1)}" if key else match.group(1)
            return (
                f"--{option} is set but {inner_class} has no such option. If a --config overlay "
                f"selects {inner_class.rsplit('.', 1)[-1]} (conf/model_only.yaml does), give it "
                "after the configs that set this option: a later class_path drops the settings "
                "the new class lacks, a later setting is checked against the class already chosen"
            )
    return None


class MIERArgumentParser(LightningArgumentParser):
    """``LightningArgumentParser`` whose errors for bad ranges and bad YAML are one line."""

    def parse_path(self, cfg_path: Any, *args: Any, **kwargs: Any) -> Any:
        """Parse a ``--config`` file, naming the file when it is not valid YAML."""
        path = Path(cfg_path)
        if path.is_file():
            try:
                with open(path) as f:
                    yaml.safe_load(f)
            except yaml.MarkedYAMLError as err:
                mark = err.problem_mark
                where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                self._fail(f"config file {cfg_path} is not valid YAML{where}: {err.problem}")
            except yaml.YAMLError as err:
                self._fail(f"config file {cfg_path} is not valid YAML: {err}")
        return super().parse_path(cfg_path, *args, **kwargs)

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        short = condense(message)
        if short is None or not self.exit_on_error:
            # A parser that does not exit is nested (a subclass's or a dataclass's): the
            # enclosing parser reports, and needs the full message to name the whole key.
            super().error(message, ex)
        self._fail(short)

    def _fail(self, message: str) -> NoReturn:
        """``error: <message>`` alone (no usage block), exit status 2."""
        sys.stderr.write(f"error: {message}\n")
        self.exit(2)
