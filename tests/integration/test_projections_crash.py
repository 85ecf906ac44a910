"""A catch-up killed with SIGKILL, mid-batch, loses no event and counts none twice.

A child process catches up a large log in batches of 500; it is killed either
at a random moment or, deterministically, right after it has written a batch's
rows but before that batch commits. Catching up again must then give exactly
the views a clean rebuild gives, with every event in them once.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.projections import EventLog, Projector, ViewReader
from opsledger.projections.sqlite import SQLiteViewStore

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 40_000

CHILD = textwrap.dedent('''
    import json, os, signal, sys
    from opsledger.domain.application import OpsLedger
    from opsledger.projections import EventLog, Projector
    from opsledger.projections.relational import RelationalWriter

    config = json.loads(sys.argv[1])
    if config["kill_at_insert"]:
        calls = {"n": 0}
        original = RelationalWriter.insert

        def insert(self, table, physical, rows):
            original(self, table, physical, rows)
            calls["n"] += 1
            if calls["n"] == config["kill_at_insert"]:
                os.kill(os.getpid(), signal.SIGKILL)  # rows written, batch not committed

        RelationalWriter.insert = insert
    app = OpsLedger(env=config["events"])
    if config["views"]["kind"] == "sqlite":
        from opsledger.projections.sqlite import SQLiteViewStore
        store = SQLiteViewStore(config["views"]["path"])
    else:
        from opsledger.projections.postgres import PostgresViewStore
        store = PostgresViewStore(dbname="test", schema=config["views"]["schema"])

    def progress(p):
        print(p.position, flush=True)

    Projector(EventLog(app.recorder, app.mapper), store, batch_size=500, progress=progress).catch_up()
    print("done", flush=True)
''')


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("projections_bench", ROOT / "bench" / "projections_bench.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.generate


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {
            "events": {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(tmp_path / "events.sqlite"), "SQLITE_LOCK_TIMEOUT": "30"},
            "views": {"kind": "sqlite", "path": str(tmp_path / "views.sqlite")},
        }
    schema = request.getfixturevalue("pg_schema")
    return {
        "events": {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
                   "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
                   "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": schema},
        "views": {"kind": "postgres", "schema": schema},
    }


def open_views(config: dict[str, Any]) -> Any:
    if config["kind"] == "sqlite":
        return SQLiteViewStore(config["path"])
    from opsledger.projections.postgres import PostgresViewStore

    return PostgresViewStore(dbname="test", schema=config["schema"])


def child(config: dict[str, Any], kill_at_insert: int = 0) -> subprocess.Popen[str]:
    import json

    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps({**config, "kill_at_insert": kill_at_insert})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def assert_exactly_once(app: OpsLedger, views: Any, tmp_path: Path) -> None:
    log = EventLog(app.recorder, app.mapper)
    resumed = Projector(log, views, batch_size=500)
    resumed.catch_up()
    assert {s.position for s in resumed.status()} == {app.head()}

    topics = collections.Counter(n.topic for n in app.notifications())
    digests = {d.name: d for d in resumed.digest()}
    ticket_events = sum(c for t, c in topics.items() if t.startswith("opsledger.ticket."))
    linked = sum(1 for n in app.notifications(topics=["opsledger.flag.Changed"])
                 if app.mapper.to_domain_event(n).ticket)
    assert digests["timeline"].rows == ticket_events + linked
    assert digests["incidents"].rows == topics["opsledger.ticket.SlaBreachRecorded"] + topics["opsledger.ticket.Opened"]
    assert digests["flags"].rows == topics["opsledger.flag.Changed"]
    reader = ViewReader(views, log)
    for key in random.Random(5).sample(app.ticket_keys(), 25):
        assert reader.ticket(key)["version"] == app.get_ticket(key).version

    clean = Projector(log, SQLiteViewStore(tmp_path / "clean.sqlite"), batch_size=1000)
    clean.rebuild()
    assert {d.name: d.sha256 for d in clean.digest()} == {n: d.sha256 for n, d in digests.items()}


def test_sigkill_between_writing_a_batch_and_committing_it(stores, tmp_path):
    app = OpsLedger(env=stores["events"])
    load_generator()(app, EVENTS)
    # Each batch inserts into up to three append-only tables; the 25th insert is
    # well inside the log, after some batches have committed.
    proc = child(stores, kill_at_insert=25)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL, err
    committed = [int(line) for line in out.split() if line.isdigit()]
    assert committed and committed[-1] < app.head()
    views = open_views(stores["views"])
    try:
        before = Projector(EventLog(app.recorder, app.mapper), views).status()
        # the interrupted batch left nothing: every view is at the last committed batch
        assert {s.position for s in before} == {committed[-1]}
        assert_exactly_once(app, views, tmp_path)
    finally:
        views.close()
        app.close()


def test_sigkill_at_a_random_moment_twice(stores, tmp_path):
    app = OpsLedger(env=stores["events"])
    load_generator()(app, EVENTS)
    rng = random.Random(os.getpid())
    for _ in range(2):
        proc = child(stores)
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one batch committed
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL  # killed while catching up, not after
    views = open_views(stores["views"])
    try:
        assert_exactly_once(app, views, tmp_path)
    finally:
        views.close()
        app.close()
