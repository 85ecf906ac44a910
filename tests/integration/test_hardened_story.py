"""Issue 15, item 7: a hardened PostgreSQL desk runs its whole story as the application role.

The DBA hardens an empty schema for the application's role; from then on the
desk connects only as that role with OPSLEDGER_CREATE_TABLE=n, as `db harden`
tells it to. The demo's whole session (roster, shift, ticket, evidence, gate,
three scripts that set the flag themselves, SLA evaluation, seal, verify,
close) runs as that role; the read commands and `ledger verify` answer as that
role; and the role still can neither UPDATE, DELETE nor TRUNCATE an event.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from clirunner import invoke, staff
from conftest import PG_DSN, PG_URL

pytestmark = pytest.mark.postgres
ARTIFACT = "sha256:" + "ab" * 32


@pytest.fixture
def app_role() -> Iterator[str]:
    role = f"ol_app_{uuid.uuid4().hex[:12]}"
    yield role
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def desk(pg_schema: str, app_role: str, tmp_path: Path) -> dict:
    """The DBA hardens the empty schema; the desk's environment names only the app role."""
    admin = {"OPSLEDGER_HOME": str(tmp_path / "home"),
             "OPSLEDGER_DATABASE_URL": f"{PG_URL}?schema={pg_schema}"}
    r = invoke(["db", "harden", "--app-role", app_role, "--login", "--json"], admin)
    assert r.code == 0, r.err
    assert json.loads(r.out)["hardened"] is True
    app = {"OPSLEDGER_HOME": str(tmp_path / "home"),
           "OPSLEDGER_DATABASE_URL": f"postgresql://{app_role}@127.0.0.1:5432/test?schema={pg_schema}",
           "OPSLEDGER_CREATE_TABLE": "n"}
    return {"admin": admin, "app": app, "schema": pg_schema, "role": app_role}


def as_app(desk: dict, *argv: str):
    return invoke(list(argv), desk["app"])


def events_of(schema: str) -> list[tuple]:
    with psycopg.connect(PG_DSN) as conn:
        return conn.execute(f'SELECT * FROM "{schema}".opsledger_events '
                            "ORDER BY notification_id").fetchall()


def test_the_demo_story_runs_as_the_application_role(desk, opsledger_exe, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")},
           **desk["app"]}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "demo")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "verified=True" in done.stdout and "CHG-2041 closed" in done.stdout

    # read: every view the desk looks at, caught up by the application role itself
    listed = as_app(desk, "ticket", "list", "--json")
    assert listed.code == 0, listed.err
    assert [(t["ticket"], t["status"]) for t in json.loads(listed.out)] == [("CHG-2041", "closed")]
    shown = as_app(desk, "ticket", "show", "CHG-2041", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["status"] == "closed"
    timeline = as_app(desk, "timeline", "CHG-2041", "--json")
    assert timeline.code == 0, timeline.err
    kinds = [e["kind"] for e in json.loads(timeline.out)["events"]]
    assert kinds[-3:] == ["ArchiveSealed", "ArchiveVerified", "Closed"], kinds
    for argv in (["incidents", "--ticket", "CHG-2041", "--json"],
                 ["flag", "history", "live.enabled", "--json"],
                 ["archive", "list", "--json"],
                 ["projections", "status", "--json"]):
        r = as_app(desk, *argv)
        assert r.code == 0, (argv, r.err)

    # the ledger, and the archive re-read from its store, verify as the application role
    verified = as_app(desk, "ledger", "verify", "--json")
    assert verified.code == 0, verified.err
    alice = str(tmp_path / "demo" / "keys" / "alice.rm")  # the demo's key of its release manager
    stored = as_app(desk, "--identity", alice, "archive", "verify", "CHG-2041", "--json")
    assert stored.code == 0, stored.err

    # and db check, run as the application role, still finds everything in order
    checked = as_app(desk, "db", "check", "--app-role", desk["role"], "--json")
    assert checked.code == 0, checked.out
    assert json.loads(checked.out)["hardened"] is True

    # the events stay append-only for that role
    before = events_of(desk["schema"])
    table = f'"{desk["schema"]}".opsledger_events'
    dsn = f"host=127.0.0.1 port=5432 user={desk['role']} dbname=test connect_timeout=5"
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement, refusal in ((f"UPDATE {table} SET topic = 'forged'", "permission denied"),
                                   (f"DELETE FROM {table}", "permission denied"),
                                   (f"TRUNCATE {table}", "append-only: TRUNCATE refused")):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal):
                conn.execute(statement)
    assert events_of(desk["schema"]) == before


def test_db_check_names_what_the_role_lacks_and_harden_grants_it(desk):
    staff(desk["app"])  # the roster, appended as the application role like every event
    r = as_app(desk, "ticket", "open", "CHG-2041", "--strategy", "momo-1", "--artifact", ARTIFACT,
               "--actor", "dave.dev")
    assert r.code == 0, r.err
    assert as_app(desk, "ticket", "show", "CHG-2041").code == 0

    # the administrator rebuilds the views: the tables swapped in come with the role's rights
    r = invoke(["projections", "rebuild"], desk["admin"])
    assert r.code == 0, r.err
    assert as_app(desk, "ticket", "show", "CHG-2041").code == 0

    # a right taken away, a ledger table gone: reads fail, and say where to look
    schema, role = desk["schema"], desk["role"]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'REVOKE SELECT, UPDATE ON "{schema}".view_tickets FROM "{role}"')
        conn.execute(f'DROP TABLE "{schema}".ledger_seals')
    shown = as_app(desk, "ticket", "show", "CHG-2041")
    assert shown.code == 3
    (line,) = shown.error_lines
    assert "permission denied for table view_tickets" in line and "db check" in line
    ledger = as_app(desk, "ledger", "status")
    assert ledger.code == 3 and "permission denied" in ledger.err

    checked = invoke(["db", "check", "--app-role", role], desk["admin"])
    assert checked.code == 1 and checked.out.strip().endswith("NOT hardened")
    assert f"{schema}.view_tickets: {role} may not SELECT: reads would fail" in checked.out
    assert f"{schema}.view_tickets: {role} may not UPDATE: reads would fail" in checked.out
    assert f"{schema}.ledger_seals does not exist" in checked.out
    code, report = json_check(desk["admin"], role)
    assert code == 1
    assert report["tables"][0]["hardened"] is True  # the events themselves are still append-only
    lacking = {v["table"]: v["problems"] for v in report["views"] if v["problems"]}
    assert sorted(lacking) == [f"{schema}.ledger_seals", f"{schema}.view_tickets"]

    # a second harden creates and grants what was missing; the desk reads again
    r = invoke(["db", "harden", "--app-role", role], desk["admin"])
    assert r.code == 0, r.err
    assert as_app(desk, "ticket", "show", "CHG-2041").code == 0
    assert as_app(desk, "ledger", "status").code == 0
    checked = invoke(["db", "check", "--app-role", role], desk["admin"])
    _, report = json_check(desk["admin"], role)
    views = len(report["views"])  # every view-store table (12 before the SLA alerts' table)
    assert views >= 13 and not any(v["problems"] for v in report["views"])
    assert checked.code == 0 and f"{role} may SELECT, INSERT, UPDATE, DELETE on all {views}" in checked.out


def json_check(env: dict, role: str) -> tuple[int, dict]:
    r = invoke(["db", "check", "--app-role", role, "--json"], env)
    return r.code, json.loads(r.out)
