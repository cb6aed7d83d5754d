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
_UNRECOGNIZED = re.compile(r"^\s*(?:error: )?[Uu]nrecognized arguments: --([^\s=]+)[= ]?(.*)$")
_NOT_OF_TYPE = re.compile(r"^\s*Not of type (\S+): (.*)$")
_EXPECTED = re.compile(r"^\s*- Expected a <class '(?:[\w.]+\.)?(\w+)'>")
_NESTED_ARG = re.compile(r"NestedArg\(key='[^']*', val='(.*)'\)$")
_QUOTED = re.compile(r"'([^']*)'\s*$")
HELP = "see --help or --print_config for the accepted options"
_FAMILY = re.compile(r"Not of type FamilyName: (.+)$")  # mier_pl.envs.registry's one line


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


def _given(lines: list[str]) -> str | None:
    given = next((g.group(1) for ln in lines if (g := _GIVEN.match(ln))), None)
    if given is not None and (nested := _NESTED_ARG.match(given)):
        return nested.group(1)
    return given


def condense(message: str) -> str | None:
    """One line for an out-of-range value, an option a (later-selected) class lacks, an
    unknown option or a value of the wrong type, naming the key, the value and the fix."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        key, inner_class = _key_path(lines, i)
        if match := _FAMILY.search(line):
            return f"--{key}: {match.group(1)}"
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
        if match := _UNRECOGNIZED.match(line):
            option = f"{key}.{match.group(1)}" if key else match.group(1)
            value = match.group(2).strip()
            owner = f"{inner_class.rsplit('.', 1)[-1]} has" if inner_class else "there is"
            return (
                f"--{option} {value}: {owner} no option {match.group(1)!r}; check its spelling "
                f"({HELP})"
            ).replace(" :", ":")
        if match := _NOT_OF_TYPE.match(line):
            kind, detail = match.groups()
            quoted = _QUOTED.search(detail)
            value = quoted.group(1) if quoted else _given(lines[i:]) or "?"
            return f"--{key} {value} is not a {kind} ({detail}); {_fix(kind, value)}"
    return _wrong_union_type(lines)


def _fix(kind: str, value: str) -> str:
    if "Int" in kind or kind == "int":
        return f"pass a whole number ({HELP})" + (
            f"; write {value!r} without an exponent or a point" if value[:1].isdigit() else ""
        )
    return f"pass a {kind} ({HELP})"


def _wrong_union_type(lines: list[str]) -> str | None:
    """``Parser key "k"`` whose every alternative is ``Expected a <class 'T'>``: the value is
    none of the types (``--trainer.max_epochs x``)."""
    match = _KEY.match(lines[0]) if lines else None
    given = _given(lines)
    kinds = [m.group(1) for ln in lines if (m := _EXPECTED.match(ln))]
    errors = [ln for ln in lines if ln.strip().startswith("- ")]
    if match is None or given is None or not kinds or len(kinds) != len(errors):
        return None
    allowed = " or ".join("null" if k == "NoneType" else k for k in kinds)
    return f"--{match.group(2)} {given} is not a value of type {allowed}; pass one ({HELP})"


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
            with open(path) as f:
                content = yaml.safe_load(f)
            if not isinstance(content, dict):  # jsonargparse: "Unexpected config", unnamed
                what = (
                    "is empty"
                    if content is None
                    else "holds a list"
                    if isinstance(content, list)
                    else f"holds the single value {content!r}"
                )
                self._fail(
                    f"config file {cfg_path} {what}, not a mapping of settings; write it as "
                    "`key: value` lines, e.g. `trainer: {max_epochs: 10}` (see conf/debug.yaml)"
                )
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
