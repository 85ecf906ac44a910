"""Shared fixtures: the two event-store backends, and a CLI runner per backend.

PostgreSQL tests use a schema of their own (other test runs share the server)
and, under CI=true, fail instead of skipping when the server is unreachable.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_s3", "fixtures_prometheus", "fixtures_browser"]

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_available() -> str | None:
    """None if the server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_DSN) as conn:
            conn.execute("select 1")
    except Exception as e:  # noqa: BLE001 - any failure means "not available"
        return str(e).splitlines()[0]
    return None


def require_postgres() -> None:
    problem = postgres_available()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {problem}")
    pytest.skip(f"PostgreSQL unreachable: {problem}")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new, empty PostgreSQL schema, dropped with everything in it afterwards."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with fresh_schema() as schema:
        yield schema


def sqlite_env(path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def postgres_env(schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "test",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Event-store configuration for each backend, in the library's env form."""
    if request.param == "sqlite":
        return sqlite_env(tmp_path / "events.sqlite")
    return postgres_env(request.getfixturevalue("pg_schema"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Environment variables pointing the CLI at a fresh store of each backend."""
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "alice.rm"}
    if request.param == "postgres":
        env["OPSLEDGER_DATABASE_URL"] = f"{PG_URL}?schema={request.getfixturevalue('pg_schema')}"
    return env


@pytest.fixture
def opsledger_exe() -> list[str]:
    """The installed console command, run as a real subprocess."""
    exe = Path(sys.executable).with_name("opsledger")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "opsledger.cli"]
