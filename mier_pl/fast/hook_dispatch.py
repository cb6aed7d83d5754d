"""Cheaper Lightning hook dispatch: what every hook call costs, paid about 25 times a step.

A training step of MIER makes three ``manual_backward`` calls and three optimiser steps, and
Lightning wraps each in callback and module hooks (``on_before_backward``,
``on_after_backward``, ``on_before_optimizer_step``, ...). Each hook call, even to a callback's
empty default, enters ``trainer.profiler.profile(name)`` (a generator-based context manager)
and sets ``pl_module._current_fx_name`` twice (through ``nn.Module.__setattr__``, which first
looks the name up among parameters, buffers and submodules). At the debug overlay's 32-unit
nets that bookkeeping was a visible part of the loop's overhead (BENCHMARKS.md, "Lightning
loop"). Both are removed here without changing what Lightning calls or in what order.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from pytorch_lightning.profilers import PassThroughProfiler

_NO_PROFILE = contextlib.nullcontext()
PLAIN_HOOK_NAME = os.environ.get("MIER_FAST_HOOKS", "1") != "0"
"""``MIER_FAST_HOOKS=0`` (read at import) turns :class:`PlainHookName`'s shortcut off; the
default profiler is turned off by naming any other (``--trainer.profiler``)."""


class NullProfiler(PassThroughProfiler):
    """The Trainer's default "no profiler", with ``profile()`` returning one shared null
    context instead of building a generator per hook call. ``--trainer.profiler simple`` (or
    any other profiler) replaces it as usual."""

    def profile(self, action_name: str) -> contextlib.nullcontext:  # type: ignore[override]
        return _NO_PROFILE


class PlainHookName:
    """Mixin for a ``LightningModule``: Lightning's per-hook ``_current_fx_name`` assignment
    goes straight to the instance dict (it is a string: ``nn.Module.__setattr__`` would only
    conclude the same after three registry lookups). Every other attribute goes through
    ``nn.Module.__setattr__`` unchanged."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name" and PLAIN_HOOK_NAME:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
