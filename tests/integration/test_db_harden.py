"""An append-only event store: `opsledger db harden|check`.

The story: the DBA opens the store as `postgres`, hardens it for the
application's role, and from then on the application appends as that role
while no role but the tables' owner can change or remove an event, whatever
its grants. On SQLite there are no roles: the file's permissions are checked.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from clirunner import invoke, staff
from conftest import PG_DSN, PG_URL
from opsledger.domain.application import OpsLedger

ARTIFACT = "sha256:" + "ab" * 32


@pytest.fixture
def roles() -> Iterator[list[str]]:
    """Role names unique to the test, dropped (with their grants) afterwards."""
    made: list[str] = []
    yield made
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        for role in made:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


def new_role(roles: list[str], prefix: str = "ol_app") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    roles.append(name)
    return name


@pytest.fixture
def admin_env(pg_schema: str, tmp_path: Path) -> dict[str, str]:
    return {
        "OPSLEDGER_HOME": str(tmp_path / "home"),
        "OPSLEDGER_ACTOR": "dba",
        "OPSLEDGER_DATABASE_URL": f"{PG_URL}?schema={pg_schema}",
    }


def app_env(admin_env: dict[str, str], role: str, schema: str) -> dict[str, str]:
    return {
        **admin_env,
        "OPSLEDGER_ACTOR": "alice.rm",
        "OPSLEDGER_DATABASE_URL": f"postgresql://{role}@127.0.0.1:5432/test?schema={schema}",
        "OPSLEDGER_CREATE_TABLE": "n",
    }


def open_ticket(env: dict[str, str], key: str) -> None:
    """On a fresh store: the desk is staffed (each person's key and role), then the
    dev lead, whose key signs it, opens the ticket."""
    staff(env)
    r = invoke(["ticket", "open", key, "--strategy", "momo-1", "--artifact", ARTIFACT,
                "--actor", "dave.dev"], env)
    assert r.code == 0, r.err


def check(env: dict[str, str], role: str) -> tuple[int, dict]:
    r = invoke(["db", "check", "--app-role", role, "--json"], env)
    assert not r.err.strip(), r.err
    return r.code, json.loads(r.out)


def harden(env: dict[str, str], role: str, *extra: str) -> dict:
    r = invoke(["db", "harden", "--app-role", role, "--json", *extra], env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def events_of(schema: str) -> list[tuple]:
    with psycopg.connect(PG_DSN) as conn:
        return conn.execute(
            f'SELECT originator_id, originator_version, topic, state, notification_id '
            f'FROM "{schema}".opsledger_events ORDER BY notification_id'
        ).fetchall()


@pytest.mark.postgres
def test_check_says_not_hardened_before_and_hardened_after(admin_env, pg_schema, roles):
    app_role = new_role(roles)
    open_ticket(admin_env, "CHG-2041")

    code, before = check(admin_env, app_role)
    assert code == 1 and before["hardened"] is False
    (table,) = before["tables"]
    assert table["table"] == f"{pg_schema}.opsledger_events"
    assert table["triggers"] == {"UPDATE": False, "DELETE": False, "TRUNCATE": False}
    assert f"role {app_role} does not exist" in before["problems"]

    hardened = harden(admin_env, app_role)
    assert hardened["hardened"] is True

    code, after = check(admin_env, app_role)
    assert code == 0 and after == hardened
    (table,) = after["tables"]
    assert after["role"] == {"name": app_role, "exists": True, "login": False, "superuser": False}
    assert table["owner"] == "postgres"
    assert table["triggers"] == {"UPDATE": True, "DELETE": True, "TRUNCATE": True}
    # PostgreSQL 15/16 lets only UPDATE, DELETE or TRUNCATE take the append lock;
    # the trigger refuses the TRUNCATE that comes with it.
    assert set(table["privileges"]) == {"SELECT", "INSERT", after["lock_privilege"]}
    assert table["sequences"] == {f"{pg_schema}.opsledger_events_notification_id_seq": ["USAGE"]}

    human = invoke(["db", "check", "--app-role", app_role], admin_env)
    assert human.code == 0 and human.out.strip().endswith("hardened")


@pytest.mark.postgres
def test_app_role_can_neither_update_delete_nor_truncate(admin_env, pg_schema, roles):
    app_role = new_role(roles)
    open_ticket(admin_env, "CHG-2041")
    harden(admin_env, app_role, "--login")
    stored = events_of(pg_schema)

    dsn = f"host=127.0.0.1 port=5432 user={app_role} dbname=test connect_timeout=5"
    table = f'"{pg_schema}".opsledger_events'
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert len(conn.execute(f"SELECT * FROM {table}").fetchall()) == len(stored)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(f"UPDATE {table} SET topic = 'forged'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(f"DELETE FROM {table}")
        # TRUNCATE is granted (the append lock needs it): the trigger refuses it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only: TRUNCATE refused"):
            conn.execute(f"TRUNCATE {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="session_replication_role"):
            conn.execute("SET session_replication_role = replica")
    assert events_of(pg_schema) == stored


@pytest.mark.postgres
def test_a_role_with_every_grant_is_still_stopped_by_the_triggers(admin_env, pg_schema, roles):
    app_role, wide = new_role(roles), new_role(roles, "ol_wide")
    open_ticket(admin_env, "CHG-2041")
    harden(admin_env, app_role)
    stored = events_of(pg_schema)

    table = f'"{pg_schema}".opsledger_events'
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{wide}" NOLOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{pg_schema}" TO "{wide}"')
        conn.execute(f'GRANT ALL ON {table} TO "{wide}"')
        # Even with replication mode on (a superuser's setting), the triggers fire: ALWAYS.
        for mode in ("origin", "replica"):
            for statement, op in ((f"UPDATE {table} SET topic = 'forged'", "UPDATE"),
                                  (f"DELETE FROM {table}", "DELETE"),
                                  (f"TRUNCATE {table}", "TRUNCATE")):
                with conn.transaction():
                    conn.execute(f"SET LOCAL session_replication_role = {mode}")
                    conn.execute(f'SET LOCAL ROLE "{wide}"')
                    with pytest.raises(psycopg.errors.InsufficientPrivilege,
                                       match=f"is append-only: {op} refused"):
                        with conn.transaction():
                            conn.execute(statement)
    assert events_of(pg_schema) == stored


@pytest.mark.postgres
def test_the_application_appends_as_the_app_role(admin_env, pg_schema, roles):
    app_role = new_role(roles)
    harden(admin_env, app_role, "--login")  # on an empty schema: harden creates the tables
    env = app_env(admin_env, app_role, pg_schema)

    open_ticket(env, "CHG-2041")  # the roster is appended by the same role, like every event
    r = invoke(["flag", "set", "live.enabled", "true", "--reason", "launch",
                "--ticket", "CHG-2041", "--role", "release-manager"], env)
    assert r.code == 0, r.err
    # The check needs no more than the application role's own rights.
    code, report = check(env, app_role)
    assert code == 0 and report["hardened"] is True

    admin = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
                           "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432",
                           "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
                           "POSTGRES_SCHEMA": pg_schema})
    try:
        assert admin.get_ticket("CHG-2041").key == "CHG-2041"
        assert admin.flag_value("live.enabled") == "true"
    finally:
        admin.close()

    # Without OPSLEDGER_CREATE_TABLE=n the role would try to create the tables: a
    # clean one-line error, never a traceback.
    r = invoke(["ticket", "open", "CHG-2042", "--strategy", "momo-1", "--artifact", ARTIFACT],
               {k: v for k, v in env.items() if k != "OPSLEDGER_CREATE_TABLE"})
    assert r.code == 3
    assert r.error_lines == [f"opsledger: error: event store unavailable: permission denied for schema {pg_schema}"]


@pytest.mark.postgres
def test_harden_again_changes_nothing_and_check_sees_tampering(admin_env, pg_schema, roles):
    app_role = new_role(roles)
    open_ticket(admin_env, "CHG-2041")
    first = harden(admin_env, app_role)
    assert harden(admin_env, app_role) == first

    table = f'"{pg_schema}".opsledger_events'
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER opsledger_no_delete")
        conn.execute(f'GRANT UPDATE ON {table} TO "{app_role}"')
    code, report = check(admin_env, app_role)
    assert code == 1
    (state,) = report["tables"]
    assert state["triggers"] == {"UPDATE": True, "DELETE": False, "TRUNCATE": True}
    assert f"{app_role} may UPDATE" in state["problems"]

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER opsledger_no_delete")  # origin only
    code, report = check(admin_env, app_role)
    assert code == 1 and report["tables"][0]["triggers"]["DELETE"] is False

    assert harden(admin_env, app_role) == first  # harden repairs it
    assert check(admin_env, app_role) == (0, first)


@pytest.mark.postgres
def test_roles_that_no_grant_or_trigger_can_hold_are_refused(admin_env, pg_schema, roles):
    open_ticket(admin_env, "CHG-2041")
    owner_member = new_role(roles, "ol_owner")
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{owner_member}" NOLOGIN IN ROLE postgres')

    cases = {
        "postgres": "the URL's user must be an administrator, not the application role",
        owner_member: "an owner can drop the triggers",
        "Bad-Name": "is not a plain lowercase SQL name",
    }
    for role, message in cases.items():
        r = invoke(["db", "harden", "--app-role", role], admin_env)
        assert r.code == 2, (role, r.err)
        assert len(r.error_lines) == 1 and message in r.err, r.err
    # Nothing was half-done: no trigger, no grant.
    code, report = check(admin_env, owner_member)
    assert code == 1
    assert report["tables"][0]["triggers"] == {"UPDATE": False, "DELETE": False, "TRUNCATE": False}


def test_sqlite_has_no_roles_and_check_reports_file_modes(tmp_path):
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dba"}

    r = invoke(["db", "check"], env)
    assert r.code == 2 and "no event store here" in r.err

    r = invoke(["db", "harden"], env)
    assert r.code == 2
    assert r.error_lines == ["opsledger: error: SQLite has no roles to harden: the embedded store "
                             "is protected by its file permissions only (see 'opsledger db check')"]

    open_ticket(env, "CHG-2041")
    home, database = tmp_path / "home", tmp_path / "home" / "events.sqlite"
    os.chmod(home, 0o700)
    os.chmod(database, 0o600)
    r = invoke(["db", "check", "--json"], env)
    assert r.code == 0, r.out
    report = json.loads(r.out)
    assert report["backend"] == "sqlite" and report["hardened"] is True
    modes = {f["path"]: f["mode"] for f in report["files"]}
    assert modes[str(home)] == "0700" and modes[str(database)] == "0600"

    os.chmod(database, 0o664)
    r = invoke(["db", "check"], env)
    assert r.code == 1
    assert "NOT hardened" in r.out and "SQLite has no roles" in r.out


@pytest.mark.postgres
def test_check_never_creates_the_tables_it_inspects(admin_env, pg_schema):
    env = {**admin_env, "OPSLEDGER_CREATE_TABLE": "y"}  # even when told to elsewhere
    code, report = check(env, "opsledger_app")
    assert code == 1
    assert report["tables"][0]["problems"] == [f"{pg_schema}.opsledger_events does not exist"]
    with psycopg.connect(PG_DSN) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{pg_schema}.opsledger_events",)).fetchone()
    assert found == (None,)
