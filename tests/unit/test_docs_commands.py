"""The docs invent no command: every `opsledger ...` written in README.md and
docs/*.md (in code blocks and inline code) names commands that exist, with
options those commands take."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from opsledger.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
COMMENT = re.compile(r"(?:^|(?<=\s))#.*$", re.M)  # a shell comment in a code block
# `opsledger` as a command word: not opsledger/..., opsledger.x, "opsledger" or ssh-keygen's -n opsledger
CALL = re.compile(r"(?:(?<=^)|(?<=[\s($]))(?<!-n )opsledger(?=\s|$)(?P<rest>[^\n|;)#<>]*)", re.M)


def snippets(text: str) -> list[str]:
    blocks = [COMMENT.sub("", b.replace("\\\n", " ")) for b in FENCE.findall(text)]
    prose = FENCE.sub("", text)
    return blocks + INLINE.findall(prose)


def calls() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for snippet in snippets(page.read_text()):
            for match in CALL.finditer(snippet):
                found.append((page.name, "opsledger" + match["rest"].rstrip()))
    return found


def _takes_value(command: click.Command, name: str) -> bool | None:
    """None: no such option; else whether it takes a value."""
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return None


def check(line: str) -> str | None:
    """Why the call is not one the CLI accepts, or None."""
    tokens = [t.strip("[]\"'") for t in line.split()[1:]]
    command: click.Command = cli
    expect_value = False
    for token in tokens:
        if expect_value:
            expect_value = False
            continue
        if token == "--":
            return None  # the script's own words follow
        if token in ("--help", "-h"):
            return None  # every command has its help
        if token.startswith("-") and len(token) > 1:
            name = token.split("=", 1)[0]
            takes = _takes_value(command, name)
            if takes is None:
                return f"{command.name}: no option {name}"
            expect_value = takes and "=" not in token
        elif isinstance(command, click.Group) and token and token not in ("...", "|"):
            sub = command.get_command(click.Context(command), token)
            if sub is None:
                return f"{command.name}: no command {token!r}"
            command = sub
    return None


def test_the_docs_mention_enough_commands_to_check():
    pages = {page for page, _ in calls()}
    assert pages == {p.name for p in PAGES}
    assert len(calls()) > 100


@pytest.mark.parametrize(("page", "line"), calls())
def test_every_documented_call_exists(page, line):
    assert check(line) is None, f"{page}: {line}: {check(line)}"


def test_the_administrator_page_names_every_setting():
    from opsledger.services.settings import ENV_VARS

    page = (ROOT / "docs" / "administrator.md").read_text()
    script = ["OPSLEDGER_TICKET", "OPSLEDGER_RUN_ID", "OPSLEDGER_SESSION_DIR",
              "OPSLEDGER_EFFECTIVE_ENV", "OPSLEDGER_CREATE_TABLE"]
    assert [v for v in [*ENV_VARS.values(), *script] if f"`{v}`" not in page] == []


def test_the_checker_refuses_what_does_not_exist():
    assert check("opsledger ticket open CHG-1 --strategy s") is None
    assert check("opsledger --identity k roster init --admin a") is None
    assert check("opsledger ticket reopen CHG-1") == "ticket: no command 'reopen'"
    assert check("opsledger ticket open CHG-1 --strategies s") == "open: no option --strategies"
    assert check("opsledger flag get x --json") is None
