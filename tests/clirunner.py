"""Runs `opsledger` through click's test runner (exit-code mapping included,
since it lives in the group's `main`) and returns what a user would see."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from unittest import mock

from click.testing import CliRunner

from cli.main import cli


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
