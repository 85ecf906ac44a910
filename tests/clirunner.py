"""Runs `opsledger` through click's test runner (exit-code mapping included,
since it lives in the group's `main`) and returns what a user would see."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from opsledger.cli.main import cli


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


# One ed25519 key per person of the tests, made once per test session: every
# recorded command is signed by the acting person's own key, as on a desk.
_KEYS = Path(tempfile.mkdtemp(prefix="opsledger-test-keys-"))


def key_file(person: str) -> Path:
    """The private key file of `person` (its public half beside it, `.pub`)."""
    path = _KEYS / person
    if not path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()))
        path.chmod(0o600)
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        path.with_name(person + ".pub").write_bytes(public + f" {person}\n".encode())
    return path


def public_key_file(person: str) -> Path:
    return key_file(person).with_name(person + ".pub")


def acting(argv: list[str], env: Mapping[str, str]) -> str | None:
    """Who the command says acts: the last --actor, else OPSLEDGER_ACTOR."""
    actor = env.get("OPSLEDGER_ACTOR")
    for i, word in enumerate(argv[:-1]):
        if word == "--actor":
            actor = argv[i + 1]
    for word in argv:
        if word.startswith("--actor="):
            actor = word.split("=", 1)[1]
    return actor or None


def signing_env(argv: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus OPSLEDGER_IDENTITY: the acting person's key, unless one is set."""
    out = dict(env)
    actor = acting(argv, env)
    if "OPSLEDGER_IDENTITY" not in out and actor and _NAME.match(actor):
        out["OPSLEDGER_IDENTITY"] = str(key_file(actor))
    return out


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


def invoke(argv: list[str], env: Mapping[str, str]) -> Result:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("OPSLEDGER_") and k != "SSH_AUTH_SOCK"}
    env = signing_env(argv, env)
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        result = CliRunner().invoke(cli, argv, prog_name="opsledger")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash that escaped the mapping is a test failure
    return Result(result.exit_code, result.stdout, result.stderr)


def staff(env: Mapping[str, str]) -> None:
    """Through the CLI, as a desk would: the administrator founds the roster and
    grants each person of the story their role."""
    from story import ADMIN, PEOPLE, SECOND_ADMIN

    steps = [["roster", "init", "--admin", ADMIN, "--second-admin", SECOND_ADMIN,
              "--second-key", str(public_key_file(SECOND_ADMIN)), "--actor", ADMIN]]
    for role, person in PEOPLE.items():
        steps += [["roster", "key", "add", person, str(public_key_file(person)), "--reason",
                   "the desk's key", "--actor", ADMIN],
                  ["roster", "grant", person, role.value, "--reason", "on the desk's rota",
                   "--actor", ADMIN]]
    for argv in steps:
        result = invoke(argv, env)
        assert result.code == 0, result.err
