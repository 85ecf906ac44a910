"""The lazy command group: what `opsledger --help` lists without importing a
command module is what the commands themselves say, and fast paths stay light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from clirunner import invoke, staff
from opsledger.cli import main

COMMAND_MODULES = sorted(
    p.stem for p in (Path(main.__file__).parent / "commands").glob("*.py") if p.stem != "__init__"
)


def eager_group() -> click.Group:
    """Every command module registered at once, as main.py did before it was lazy."""
    group = main.LazyGroup(name="opsledger", callback=main.cli.callback, params=main.cli.params,
                           help=main.cli.help, context_settings=main.cli.context_settings)
    for name in main.COMMANDS:
        if name not in group.commands:
            group.load(name)
    return group


def test_every_command_module_is_registered_by_the_table():
    named = {module for _, modules in main.COMMANDS.values() for module in modules}
    assert named == set(COMMAND_MODULES)


def test_each_summary_is_the_commands_own():
    group = eager_group()
    assert set(group.commands) == set(main.COMMANDS)
    for name, (summary, _) in main.COMMANDS.items():
        assert group.commands[name].get_short_help_str(10**4) == summary, name


def test_lazy_help_lists_what_the_loaded_commands_would():
    lazy = main.LazyGroup(name="opsledger", params=main.cli.params, help=main.cli.help,
                          context_settings=main.cli.context_settings)
    with click.Context(lazy, info_name="opsledger", terminal_width=80) as ctx:
        lazy_help = lazy.get_help(ctx)
    assert not lazy.commands  # nothing imported to list them
    eager = eager_group()
    with click.Context(eager, info_name="opsledger", terminal_width=80) as ctx:
        assert eager.get_help(ctx) == lazy_help


def _commands_of(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands_of(command, click.Context(command, parent=ctx), (*path, name))


def test_no_summary_is_cut_inside_parentheses():
    """`ticket --help` once listed `open  Open change ticket KEY (e.g.`."""
    group = eager_group()
    for path, command in _commands_of(group, click.Context(group)):
        short = command.get_short_help_str(10**4)
        assert short.count("(") == short.count(")"), f"{' '.join(path)}: {short!r}"


PROBE = """
import json, sys
from opsledger.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)
"""


def modules_loaded_by(argv: list[str], home: Path) -> set[str]:
    run = subprocess.run([sys.executable, "-c", PROBE, "--home", str(home), *argv],
                         capture_output=True, text=True, timeout=60)
    code, loaded = json.loads(run.stderr.strip().splitlines()[-1])
    assert code in (0, None), run.stderr
    return set(loaded)


HEAVY = ("opsledger.archiver", "opsledger.projections.ledger", "opsledger.domain.sla",
         "opsledger.domain.checkpoint", "opsledger.domain.application", "opsledger.domain.model",
         "opsledger.domain.ticket.aggregate", "opsledger.domain.roster", "opsledger.adapters",
         "cryptography", "boto3", "zstandard", "hyperscan", "psycopg")


@pytest.fixture(scope="module")
def desk_home(tmp_path_factory) -> Path:
    """A desk with one ticket and live.enabled set, recorded through the CLI."""
    home = tmp_path_factory.mktemp("desk") / "home"
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_ACTOR": "dave.dev"}
    staff(env)
    for argv in (["ticket", "open", "CHG-1", "--strategy", "s", "--artifact", "sha256:" + "ab" * 32],
                 ["flag", "set", "live.enabled", "true", "--reason", "launch", "--actor", "dana.ops"]):
        result = invoke(argv, env)
        assert result.code == 0, result.err
    return home


@pytest.mark.parametrize("argv", [["--help"], ["flag", "get", "live.enabled"],
                                  ["ticket", "show", "CHG-1"]])
def test_fast_commands_import_nothing_heavy(argv, desk_home):
    """No pydantic model is built, no event class defined, no archiver or driver
    imported, to answer these three."""
    loaded = modules_loaded_by(argv, desk_home)
    heavy = sorted(m for m in loaded if m.startswith(HEAVY))
    assert not heavy, heavy
    if argv == ["--help"]:
        assert not [m for m in loaded if m.startswith("opsledger.cli.commands.")]
