"""The store's own integrity is part of verification (issue 13, item 6).

Damage is done the way a failing disk, a bad restore or a careless copy does
it: bytes overwritten inside the SQLite files, the events file truncated,
deleted or replaced by an older copy. `ledger verify` must call a damaged
store a failure (exit 1, one line naming the damage), and read commands must
never answer from views that are ahead of the log they were built from.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from clirunner import invoke, staff
from conftest import PG_DSN
from opsledger.domain.application import OpsLedger
from opsledger.services.settings import Settings
from story import approve_all, attach_all, open_ticket

PAGE = 4096


@pytest.fixture
def store(cli_env: dict, tmp_path: Path) -> dict:
    """Two tickets' events, a published checkpoint, and the views caught up."""
    staff(cli_env)  # the desk's keys in the roster: signing the checkpoint below needs one
    settings = Settings.from_env(environ=cli_env)
    settings.home.mkdir(parents=True, exist_ok=True)
    app = OpsLedger(env=settings.event_store_env())
    for key in ("CHG-2041", "CHG-2042"):
        open_ticket(app, key)
        attach_all(app, key)
        approve_all(app, key)
    app.close()
    assert invoke(["keys", "init"], cli_env).code == 0
    witness = tmp_path / "witness"
    assert invoke(["ledger", "checkpoint", "--publish", str(witness)], cli_env).code == 0
    shown = invoke(["ticket", "show", "CHG-2041"], cli_env)
    assert shown.code == 0, shown.err
    return {"env": cli_env, "home": settings.home, "witness": str(witness)}


def sqlite_only(store: dict) -> None:
    if "OPSLEDGER_DATABASE_URL" in store["env"]:
        pytest.skip("damages a SQLite file")


def verify(store: dict, *extra: str):
    return invoke(["ledger", "verify", "--published", store["witness"], *extra], store["env"])


def overwrite_page(path: Path, page: int) -> None:
    """4 KB of garbage over page `page` (1-based) of a SQLite file."""
    with path.open("r+b") as f:
        f.seek((page - 1) * PAGE)
        f.write(os.urandom(PAGE))


def rootpage(path: Path, name_like: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "select rootpage from sqlite_master where name like ?", (name_like,)
        ).fetchone()[0]
    finally:
        conn.close()


def test_a_sound_store_passes_its_integrity_check(store):
    r = verify(store, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["ok"] is True and doc["integrity"] == []


@pytest.mark.parametrize("where", ["index", "table"])
def test_garbage_inside_events_sqlite_fails_verify_naming_the_integrity_check(store, where):
    sqlite_only(store)
    events = store["home"] / "events.sqlite"
    # The index is never read by the ledger's walk of the log in rowid order:
    # only SQLite's own check sees that page. A table page breaks the walk too.
    name = "sqlite_autoindex_stored_events%" if where == "index" else "stored_events"
    overwrite_page(events, rootpage(events, name))
    r = verify(store)
    assert r.code == 1, (r.out, r.err)
    assert "Traceback" not in r.err
    (line,) = [x for x in (r.out + r.err).splitlines() if "integrity" in x]
    assert "events.sqlite" in line and "DAMAGED" in line
    doc = json.loads(verify(store, "--json").out)
    assert doc["ok"] is False
    assert [f["kind"] for f in doc["findings"]] == ["integrity"]


def test_garbage_inside_views_sqlite_fails_verify(store):
    sqlite_only(store)
    views = store["home"] / "views.sqlite"
    conn = sqlite3.connect(views)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    overwrite_page(views, rootpage(views, "view_tracking"))
    r = verify(store)
    assert r.code == 1, (r.out, r.err)
    (line,) = [x for x in (r.out + r.err).splitlines() if "integrity" in x]
    assert "views.sqlite" in line


def behind(store: dict) -> None:
    for argv in (["ticket", "show", "CHG-2041"], ["ticket", "list"], ["timeline", "CHG-2041"]):
        r = invoke(argv, store["env"])
        assert r.code == 1, (argv, r.out, r.err)
        assert "the event log is behind the views" in r.err
        assert r.out == ""  # nothing answered from the stale views


def test_events_sqlite_truncated_to_zero_is_behind_the_views(store):
    sqlite_only(store)
    (store["home"] / "events.sqlite").write_bytes(b"")
    behind(store)


def test_a_missing_events_sqlite_where_views_exist_is_behind_the_views(store):
    sqlite_only(store)
    (store["home"] / "events.sqlite").unlink()
    behind(store)


def test_events_sqlite_replaced_by_an_older_copy_is_behind_the_views(store, tmp_path):
    sqlite_only(store)
    events = store["home"] / "events.sqlite"
    older = tmp_path / "older.sqlite"
    conn = sqlite3.connect(events)
    conn.execute("vacuum into ?", (str(older),))
    conn.close()
    app = OpsLedger(env=Settings.from_env(environ=store["env"]).event_store_env())
    attach_all(app, open_ticket(app, "CHG-2043"))
    app.close()
    assert invoke(["ticket", "show", "CHG-2043"], store["env"]).code == 0
    for suffix in ("-wal", "-shm"):
        Path(str(events) + suffix).unlink(missing_ok=True)
    shutil.copy(older, events)
    behind(store)


def test_postgres_events_deleted_under_the_views_are_behind(store):
    if "OPSLEDGER_DATABASE_URL" not in store["env"]:
        pytest.skip("deletes PostgreSQL rows")
    import psycopg

    schema = store["env"]["OPSLEDGER_DATABASE_URL"].split("schema=")[1]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'delete from "{schema}".opsledger_events where notification_id > 5')
    behind(store)
