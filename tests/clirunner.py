"""Runs `opsledger` through click's test runner (exit-code mapping included,
since it lives in the group's `main`) and returns what a user would see."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from unittest import mock

from click.testing import CliRunner
from opsledger.cli.main import cli


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def invoke(argv: list[str], env: Mapping[str, str]) -> Result:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        result = CliRunner().invoke(cli, argv, prog_name="opsledger")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash that escaped the mapping is a test failure
    return Result(result.exit_code, result.stdout, result.stderr)


def staff(env: Mapping[str, str]) -> None:
    """Through the CLI, as a desk would: the administrator founds the roster and
    grants each person of the story their role."""
    from story import ADMIN, PEOPLE

    steps = [["roster", "init", "--admin", ADMIN, "--actor", ADMIN]]
    steps += [["roster", "grant", person, role.value, "--reason", "on the desk's rota",
               "--actor", ADMIN] for role, person in PEOPLE.items()]
    for argv in steps:
        result = invoke(argv, env)
        assert result.code == 0, result.err
