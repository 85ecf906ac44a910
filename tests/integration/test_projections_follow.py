"""Following the log: on PostgreSQL the views are woken by the event store's own
NOTIFY, not by polling; on SQLite they poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.projections import EventLog, Projector
from opsledger.projections.sqlite import SQLiteViewStore
from story import open_ticket


def follow_in_background(projector: Projector, idle: float) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=projector.follow, args=(stop.is_set, idle), daemon=True)
    thread.start()
    return thread, stop


def wait_until_caught_up(projector: Projector, head: int, limit: float) -> float:
    started = time.monotonic()
    while {s.position for s in projector.status()} != {head}:
        assert time.monotonic() - started < limit, projector.status()
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.postgres
def test_postgres_follow_wakes_on_the_event_store_notify(pg_schema: str):
    from opsledger.projections.postgres import PostgresViewStore

    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
           "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
           "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": pg_schema}
    app = OpsLedger(env=env)
    store = PostgresViewStore(dbname="test", schema=pg_schema,
                              listen_channel=app.recorder.channel_name)
    reader_store = PostgresViewStore(dbname="test", schema=pg_schema)
    follower = Projector(EventLog(app.recorder, app.mapper), store)
    watcher = Projector(EventLog(app.recorder, app.mapper), reader_store)
    # An idle timeout far longer than the wait below: only a NOTIFY can wake it in time.
    thread, stop = follow_in_background(follower, idle=120)
    try:
        time.sleep(0.5)  # listening, and idle
        open_ticket(app)
        assert wait_until_caught_up(watcher, app.head(), limit=60) < 60
        open_ticket(app, "CHG-2042")
        wait_until_caught_up(watcher, app.head(), limit=60)
    finally:
        stop.set()  # read once the follower wakes: a last event's NOTIFY wakes it
        with_notify = OpsLedger(env=env)
        open_ticket(with_notify, "CHG-9999")
        thread.join(timeout=30)
        assert not thread.is_alive()
        for s in (store, reader_store):
            s.close()
        with_notify.close()
        app.close()


def test_sqlite_follow_polls(tmp_path: Path):
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(tmp_path / "events.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"})
    follower = Projector(EventLog(app.recorder, app.mapper), SQLiteViewStore(tmp_path / "views.sqlite"))
    watcher = Projector(EventLog(app.recorder, app.mapper), SQLiteViewStore(tmp_path / "views.sqlite"))
    thread, stop = follow_in_background(follower, idle=0.05)
    try:
        open_ticket(app)
        wait_until_caught_up(watcher, app.head(), limit=30)
        open_ticket(app, "CHG-2042")
        wait_until_caught_up(watcher, app.head(), limit=30)
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()
        follower.store.close()
        watcher.store.close()
        app.close()
