"""The README's generated material stays true."""

from __future__ import annotations

import contextlib
import io

from tests.conftest import CONF, ROOT


def test_config_reference_is_current(run_cli):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        run_cli("fit", "--config", CONF / "ant_neg.yaml", "--print_config")
    committed = (ROOT / "docs" / "config_reference.yaml").read_text()
    assert out.getvalue() == committed, "run `make config-reference` and commit the result"


def test_readme_commands_name_existing_configs():
    readme = (ROOT / "README.md").read_text()
    for word in readme.split():
        if word.startswith("conf/") and word.endswith(".yaml"):
            assert (ROOT / word.strip("`")).is_file(), word
