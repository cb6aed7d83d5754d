"""``python -m mier_pl COMMAND``: the one entry point, every command behind it.

``fit`` and ``adapt`` (and Lightning's ``validate``, ``test``, ``predict``) go to the
LightningCLI (:mod:`mier_pl.cli.main`); the analysis commands, which read finished runs, go to
their own parsers in :mod:`mier_pl.analysis`, and ``check_family`` to the family checker
(:mod:`mier_pl.envs.check`), before LightningCLI parses anything.
"""

from __future__ import annotations

import importlib
import sys

ANALYSIS_COMMANDS = {
    "evaluate": "re-evaluate meta-trained checkpoints on every task",
    "reproduce": "the paper's Figures 4 and 5 for one family: fit, test-time step, report",
    "report": "aggregate runs (seeds) into mean ± std tables and curves",
    "compare": "methods or variants side by side, over seeds, against env steps",
    "check_family": "check a task family (built-in name or package.module:Class) against the contract",
}
"""Subcommands handled before LightningCLI, each by its module's ``main(argv)``."""

COMMAND_MODULES = {name: f"mier_pl.analysis.{name}" for name in ANALYSIS_COMMANDS}
COMMAND_MODULES["check_family"] = "mier_pl.envs.check"


def analysis_help() -> str:
    """The analysis commands as a help section (appended to ``python -m mier_pl --help``)."""
    lines = ["", "other commands (each has its own --help):"]
    lines += [f"  {name:<13} {text}" for name, text in ANALYSIS_COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> object:
    """Run the command ``argv[0]`` (default ``sys.argv[1:]``) with the rest of ``argv``."""
    given = argv
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ANALYSIS_COMMANDS:
        module = importlib.import_module(COMMAND_MODULES[argv[0]])
        return module.main(argv[1:])
    from mier_pl.cli.main import main as lightning_main

    if argv[:1] in (["-h"], ["--help"]):
        try:
            lightning_main(given)
        finally:
            print(analysis_help())
    return lightning_main(given)  # None: LightningCLI reads sys.argv itself
