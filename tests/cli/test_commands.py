"""``python -m mier_pl COMMAND``: one entry point; analysis commands dispatch before LightningCLI."""

from __future__ import annotations

import contextlib
import io

import pytest

from mier_pl.cli.commands import ANALYSIS_COMMANDS, main


@pytest.mark.parametrize("command", sorted(ANALYSIS_COMMANDS))
def test_analysis_command_reaches_its_own_parser(command):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"python -m mier_pl {command}" in out.getvalue()


def test_top_level_help_lists_every_command():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = out.getvalue()
    for command in ("fit", "adapt", *ANALYSIS_COMMANDS):
        assert command in text, command
