"""The README's generated material stays true."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex

import pytest

from mier_pl.cli.commands import ANALYSIS_COMMANDS, COMMAND_MODULES
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


def documented_commands() -> list[tuple[str, list[str]]]:
    """``(where, argv)`` of every ``python -m mier_pl...`` command in README.md and docs/*.md:
    in code blocks, and in inline code that is a whole ``fit``/``adapt`` command. Shell variables and
    ``<placeholders>`` become ``0``, ``{0,1,2}`` its first item; an inline span that starts with
    ``--config`` is an addition to a command and is tried on ``fit --config
    conf/point_goal.yaml``."""
    commands = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        fenced = re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)  # every block, paired
        blocks = [body for lang, body in fenced if lang in ("", "bash", "sh")]
        inline = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.S))
        pieces = [p for b in blocks for p in b.replace("\\\n", " ").splitlines()]
        mentions = [p for p in inline if "python -m mier_pl " in p and "..." not in p]
        pieces += mentions
        for piece in pieces:
            piece = re.sub(r"\$\{?\w+\}?|<[^>]+>", "0", piece)
            piece = re.sub(r"\{(\w+),[^}]*\}", r"\1", piece)
            match = re.search(r"-m (mier_pl) (.*)", piece)
            if match:
                rest = match.group(2).split(";")[0].split(" && ")[0]
                if rest.count("'") % 2:  # the end of a quoted command: sbatch --wrap '...'
                    rest = rest.rstrip().removesuffix("'")
                argv = shlex.split(rest, comments=True)
                if piece in mentions and argv[:1] and argv[0] in ANALYSIS_COMMANDS:
                    continue  # inline `python -m mier_pl report --adapt` names a command
                commands.append((f"{doc.name}: {piece.strip()}", [match.group(1), *argv]))
        for addition in inline:
            if addition.startswith("--config "):
                argv = ["fit", "--config", "conf/point_goal.yaml", *shlex.split(addition)]
                commands.append((f"{doc.name}: `{addition}`", ["mier_pl", *argv]))
    return commands


def test_docs_have_commands_to_check():
    names = [where for where, _ in documented_commands()]
    assert len(names) >= 15, names
    assert any("init_args.group" in n for n in names)  # the W&B group addition is checked


@pytest.mark.parametrize(("where", "argv"), documented_commands(), ids=lambda v: str(v)[:70])
def test_documented_command_parses(where, argv, monkeypatch):
    """Each command's arguments parse as written (``--print_config``: nothing runs)."""
    monkeypatch.chdir(ROOT)
    program, *args = argv
    assert program == "mier_pl", where
    if args and args[0] in ANALYSIS_COMMANDS:  # evaluate, report, check_family, ...: own parsers
        module = importlib.import_module(COMMAND_MODULES[args[0]])
        module.build_parser().parse_args(
            args[1:][: args.index("--") - 1] if "--" in args else args[1:]
        )
        return
    from mier_pl.cli.main import main

    helps = any(a == "--help" or a.endswith(".help") for a in args)  # prints help, not config
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main(args if helps else [*args, "--print_config"])
    assert exc.value.code in (0, None), f"{where}: exit {exc.value.code}"
    assert ("Help for" if helps else "trainer:") in out.getvalue(), where


def test_every_doc_page_is_in_the_site_nav():
    """mkdocs.yml's nav lists every docs/*.md, so a new page is on the site (``make docs``
    builds it, --strict, in CI)."""
    import yaml

    def pages(nav) -> set[str]:
        if isinstance(nav, str):
            return {nav}
        items = nav.values() if isinstance(nav, dict) else nav
        return set().union(*(pages(item) for item in items))

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert pages(config["nav"]) == {p.name for p in (ROOT / "docs").glob("*.md")}
