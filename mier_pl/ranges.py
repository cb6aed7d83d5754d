"""Allowed ranges of numeric settings, written once as the settings' type hints.

The hints are jsonargparse's restricted number types, so the CLI refuses ``--data.batch_size
-5`` when it parses the config, before any env is built, with one line naming the key, the
value and the range (``--data.batch_size -5 is out of range (allowed: v>0)``). :func:`check_ranges` applies the same hints to a config dataclass built in Python,
so a test or notebook that writes ``AdaptConfig(epochs=0)`` is refused the same way. This
module imports only jsonargparse, so any layer may use it.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
    restricted_number_type,
)

# τ = 1 copies the critics into the targets each update (allowed); τ = 0 never updates them.
UnitIntervalOpenLeft = restricted_number_type(
    "UnitIntervalOpenLeft", float, [(">", 0), ("<=", 1)], join="and"
)

__all__ = [
    "RESTRICTION",
    "ClosedUnitInterval",
    "NonNegativeFloat",
    "NonNegativeInt",
    "OpenUnitInterval",
    "PositiveFloat",
    "PositiveInt",
    "UnitIntervalOpenLeft",
    "check_ranges",
    "out_of_range",
    "plain",
]

RESTRICTION = re.compile(r"(?:: |^\s*)(\S*)\s*does not conform to restriction (.+)$")


def out_of_range(key: str, value: object, restriction: str) -> str:
    """The one-line refusal of a setting outside its range, as the CLI and Python both say it."""
    return f"--{key} {value} is out of range (allowed: {restriction.strip()})"


def _restricted(hint: Any) -> list[type]:
    """The restricted number types in ``hint`` (``PositiveInt | None``, ``tuple[PositiveInt, ...]``)."""
    if isinstance(hint, type) and hasattr(hint, "_restrictions"):
        return [hint]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is not None:
        return [t for arg in typing.get_args(hint) for t in _restricted(arg)]
    return []


def check_ranges(config: Any, prefix: str) -> None:
    """Raise ``ValueError`` naming ``--<prefix>.<field>``, its value and its range when a field
    of the dataclass ``config`` is outside the range its type hint states.

    Checked fields are stored back as plain ``int``/``float``: jsonargparse hands over
    ``PositiveFloat(0.001)`` objects, which would reach the optimisers' param groups and make
    every checkpoint unloadable with ``torch.load(weights_only=True)``.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        kinds = _restricted(hints[field.name])
        if not kinds:
            continue
        value = getattr(config, field.name)
        values = value if isinstance(value, (tuple, list)) else [value]
        for v in values:
            if v is None or isinstance(v, bool):
                continue
            try:
                kinds[0](v)
            except ValueError as err:
                match = RESTRICTION.search(str(err))
                restriction = match.group(2) if match else str(err)
                raise ValueError(out_of_range(f"{prefix}.{field.name}", v, restriction)) from None
        setattr(config, field.name, plain(value))


def plain(value: Any) -> Any:
    """``value`` with restricted numbers turned into the builtin ``int``/``float`` they are."""
    if isinstance(value, (tuple, list)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
