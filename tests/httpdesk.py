"""A staffed desk behind the HTTP service, for the tests of `opsledger serve`:
the roster founded and staffed through the CLI, a ticket opened, tokens issued
by the administrator as `opsledger roster token issue` prints them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from unittest import mock

from clirunner import invoke, staff
from fastapi.testclient import TestClient
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings
from opsledger.web.app import create_app
from opsledger.web.auth import TrustedProxy
from story import ADMIN, SECOND_ADMIN

DIGEST = "sha256:" + "ab" * 32
KEY = "CHG-2041"


def ol(env: Mapping[str, str], actor: str, *argv: str):
    return invoke(list(argv), {**env, "OPSLEDGER_ACTOR": actor})


def found_desk(env: Mapping[str, str]) -> None:
    """The desk of the stories, with one ticket opened by the dev lead."""
    staff(env)
    r = ol(env, "dave.dev", "ticket", "open", KEY, "--strategy", "momo-1", "--env", "prod",
           "--artifact", DIGEST)
    assert r.code == 0, r.err


def issue(env: Mapping[str, str], holder: str, *scopes: str, service: bool = False,
          expires: str = "30d", admin: str = ADMIN) -> str:
    argv = ["roster", "token", "issue", holder, "--expires", expires]
    for scope in scopes:
        argv += ["--scope", scope]
    if service:
        argv.append("--service-account")
    r = ol(env, admin, *argv)
    assert r.code == 0, r.err
    token = r.out.strip()
    assert token.startswith("olt_") and token not in r.err
    return token


def services_of(env: Mapping[str, str]) -> Services:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        return Services(Settings.from_env())


def client(env: Mapping[str, str], proxy: TrustedProxy | None = None, **kwargs) -> TestClient:
    return TestClient(create_app(services_of(env), proxy=proxy), **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


__all__ = ["ADMIN", "SECOND_ADMIN", "bearer", "client", "found_desk", "issue", "ol"]
