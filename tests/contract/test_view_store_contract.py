"""One contract for the view-store port, run on SQLite and on PostgreSQL.

Every behaviour the projections rely on is stated here once: tracking rows
written with the view rows in one transaction, rollback leaving nothing
behind, shadow tables swapped in atomically, and rows that read back the same
from both stores (which is what makes their digests comparable).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opsledger.projections.errors import InvalidQuery, ViewStoreError
from opsledger.projections.relational import SCAN_PAGE
from opsledger.projections.schema import Column, Table
from opsledger.projections.store import Tracking, ViewStore

EVENTS = Table(
    "view_contract_events",
    (
        Column("position", "int", nullable=False),
        Column("subject", "text", nullable=False),
        Column("at", "int", nullable=False),
        Column("observed", "real"),
        Column("note", "text"),
    ),
    key=("position",),
    indexes=(("subject", "at"), ("at",)),
    append_only=True,
)
STATES = Table(
    "view_contract_states",
    (Column("id", "text", nullable=False), Column("count", "int", nullable=False), Column("doc", "text")),
    key=("id",),
    indexes=(("count",),),
)
VERSIONS = {"contract": 1, "other": 3}
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], ViewStore]]:
    """Opens a store (as often as a test needs: several connections to one store)."""
    opened: list[ViewStore] = []
    if request.param == "sqlite":
        from opsledger.projections.sqlite import SQLiteViewStore

        def make() -> ViewStore:
            return SQLiteViewStore(tmp_path / "views.sqlite", timeout=10)
    else:
        # the fixture fails (CI=true) or skips when the server is unreachable
        schema = request.getfixturevalue("pg_schema")
        from opsledger.projections.postgres import PostgresViewStore

        def make() -> ViewStore:
            return PostgresViewStore(dbname="test", schema=schema)

    def tracked() -> ViewStore:
        store = make()
        opened.append(store)
        return store

    yield tracked
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], ViewStore]) -> ViewStore:
    s = open_store()
    s.install([EVENTS, STATES], VERSIONS)
    return s


def rows_of(n: int, start: int = 1) -> list[tuple]:
    return [(p, f"s{p % 7}", 1_700_000_000_000_000 + p, p / 4 if p % 3 else None, f"n{p}é")
            for p in range(start, start + n)]


def test_install_creates_tracking_at_zero_and_is_idempotent(store: ViewStore):
    assert store.tracking() == {"contract": Tracking(0, 1), "other": Tracking(0, 3)}
    with store.transaction() as w:
        w.set_tracking({"contract": Tracking(42, 1)})
        w.insert(EVENTS, EVENTS.name, rows_of(3))
    store.install([EVENTS, STATES], {**VERSIONS, "new": 2})
    assert store.tracking() == {"contract": Tracking(42, 1), "other": Tracking(0, 3),
                                "new": Tracking(0, 2)}
    assert len(store.select(EVENTS)) == 3


def test_rows_and_position_commit_together(store: ViewStore):
    with store.transaction() as w:
        assert w.lock(["contract", "missing"]) == {"contract": Tracking(0, 1)}
        w.insert(EVENTS, EVENTS.name, rows_of(10))
        w.upsert(STATES, STATES.name, [("a", 1, "{}"), ("b", 2, None)])
        w.set_tracking({"contract": Tracking(10, 1)})
    assert store.tracking()["contract"].position == 10
    assert [r[0] for r in store.select(EVENTS)] == list(range(1, 11))


def test_a_failed_batch_leaves_neither_rows_nor_position(store: ViewStore):
    with pytest.raises(RuntimeError), store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, rows_of(10))
        w.set_tracking({"contract": Tracking(10, 1)})
        raise RuntimeError("crash mid-batch")
    assert store.tracking()["contract"].position == 0
    assert store.select(EVENTS) == []
    # and the store is usable afterwards
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, rows_of(1))
    assert len(store.select(EVENTS)) == 1


def test_a_duplicate_append_is_a_store_error_and_rolls_back(store: ViewStore):
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, rows_of(2))
    with pytest.raises(ViewStoreError), store.transaction() as w:
        w.set_tracking({"contract": Tracking(99, 1)})
        w.insert(EVENTS, EVENTS.name, rows_of(2, start=2))
    assert store.tracking()["contract"].position == 0
    assert len(store.select(EVENTS)) == 2


def test_upsert_replaces_by_key_and_load_finds_many_keys(store: ViewStore):
    keys = [f"k{n:04d}" for n in range(1200)]  # more than one chunk of bound parameters
    with store.transaction() as w:
        w.upsert(STATES, STATES.name, [(k, 1, None) for k in keys])
        w.upsert(STATES, STATES.name, [("k0001", 2, '{"x":1}')])
    with store.transaction() as w:
        loaded = w.load(STATES, STATES.name, keys[:1100] + ["absent"])
    assert len(loaded) == 1100
    assert ("k0001", 2, '{"x":1}') in loaded


def test_values_read_back_identically(store: ViewStore):
    row = (2**62, "ticket ✓ «CHG-2041»", -(2**40), 0.1 + 0.2, None)
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, [row])
    assert store.select(EVENTS) == [row]
    assert all(type(a) is type(b) for a, b in zip(store.select(EVENTS)[0], row, strict=True))


def test_select_filters_orders_and_limits(store: ViewStore):
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, rows_of(30))
    base = 1_700_000_000_000_000
    got = store.select(EVENTS, [("subject", "=", "s3"), ("at", ">=", base + 5), ("at", "<", base + 25)],
                       order_by=("subject", "at"))
    assert [r[0] for r in got] == [10, 17, 24]
    assert [r[0] for r in store.select(EVENTS, order_by=("at",), limit=3, descending=True)] == [30, 29, 28]
    assert [r[0] for r in store.select(EVENTS, [("observed", "=", None)])] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    with pytest.raises(InvalidQuery):
        store.select(EVENTS, [("nope", "=", 1)])
    with pytest.raises(InvalidQuery):
        store.select(EVENTS, [("at", "!=", 1)])
    with pytest.raises(InvalidQuery):
        store.select(EVENTS, order_by=("subject; drop table x",))


def test_scan_streams_every_row_in_key_order(store: ViewStore):
    n = SCAN_PAGE * 2 + 17
    shuffled = rows_of(n)
    shuffled = shuffled[1::2] + shuffled[::2]
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, shuffled)
    positions = [r[0] for r in store.scan(EVENTS)]
    assert positions == list(range(1, n + 1))


def test_shadow_tables_are_swapped_in_atomically_and_again(store: ViewStore):
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, rows_of(5))
        w.set_tracking({"contract": Tracking(5, 1)})
    for round_, token in enumerate(("aaaa0001", "bbbb0002"), 1):
        with store.transaction() as w:
            w.create_table(EVENTS, EVENTS.shadow)
            w.set_tracking({"contract~rebuild": Tracking(0, 2, token)})
        with store.transaction() as w:
            w.insert(EVENTS, EVENTS.shadow, rows_of(round_ * 10))
            w.set_tracking({"contract~rebuild": Tracking(round_ * 10, 2, token)})
        with store.transaction() as w:
            w.create_indexes(EVENTS, EVENTS.shadow, token)
        assert len(store.select(EVENTS)) == (5 if round_ == 1 else 10)  # readers see the old view
        with store.transaction() as w:
            shadow = w.lock(["contract~rebuild"])["contract~rebuild"]
            w.drop_table(EVENTS.name)
            w.rename_table(EVENTS.shadow, EVENTS.name)
            w.set_tracking({"contract": Tracking(shadow.position, 2)})
            w.drop_tracking("contract~rebuild")
        assert len(store.select(EVENTS)) == round_ * 10
        assert store.tracking()["contract"] == Tracking(round_ * 10, 2)
        assert "contract~rebuild" not in store.tracking()


def test_a_failed_swap_keeps_the_old_view(store: ViewStore):
    with store.transaction() as w:
        w.insert(EVENTS, EVENTS.name, rows_of(5))
        w.create_table(EVENTS, EVENTS.shadow)
        w.insert(EVENTS, EVENTS.shadow, rows_of(50))
    with pytest.raises(RuntimeError), store.transaction() as w:
        w.drop_table(EVENTS.name)
        w.rename_table(EVENTS.shadow, EVENTS.name)
        raise RuntimeError("killed during the swap")
    assert len(store.select(EVENTS)) == 5


def test_a_snapshot_reads_one_state(open_store: Callable[[], ViewStore]):
    reader, writer = open_store(), open_store()
    reader.install([EVENTS, STATES], VERSIONS)
    with reader.snapshot():
        before = reader.tracking()["contract"]
        with writer.transaction() as w:
            w.insert(EVENTS, EVENTS.name, rows_of(3))
            w.set_tracking({"contract": Tracking(3, 1)})
        assert reader.tracking()["contract"] == before
        assert reader.select(EVENTS) == []
    assert reader.tracking()["contract"].position == 3


def test_writers_queue_on_the_tracking_rows(open_store: Callable[[], ViewStore]):
    first, second = open_store(), open_store()
    first.install([EVENTS, STATES], VERSIONS)
    seen: list[Tracking] = []
    done = threading.Event()

    def second_writer() -> None:
        with second.transaction() as w:
            held = w.lock(["contract"])["contract"]
            seen.append(held)
            w.set_tracking({"contract": Tracking(held.position + 1, 1)})
        done.set()

    with first.transaction() as w:
        w.lock(["contract"])
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.3)
        assert not done.is_set(), "the second writer must wait for the first to commit"
        w.set_tracking({"contract": Tracking(10, 1)})
    thread.join(timeout=30)
    assert seen == [Tracking(10, 1)]  # it saw the first writer's position, not a stale one
    assert first.tracking()["contract"].position == 11


def test_wait_returns_after_its_timeout(store: ViewStore):
    started = time.monotonic()
    store.wait(0.05)
    assert time.monotonic() - started >= 0.04


def test_sqlite_store_in_a_missing_folder_is_a_store_error(tmp_path: Path):
    from opsledger.projections.sqlite import SQLiteViewStore

    with pytest.raises(ViewStoreError, match="unable to open"):
        SQLiteViewStore(tmp_path / "no" / "such" / "views.sqlite")


@pytest.mark.postgres
def test_postgres_store_unreachable_or_misnamed_is_a_store_error(pg_schema: str):
    from opsledger.projections.postgres import PostgresViewStore

    with pytest.raises(ViewStoreError, match="view store"):
        PostgresViewStore(dbname="test", port=1, connect_timeout=2)
    with pytest.raises(ViewStoreError, match="schema"):
        PostgresViewStore(dbname="test", schema='x"; drop')


@pytest.mark.postgres
def test_postgres_wait_wakes_on_notify(pg_schema: str):
    import psycopg
    from opsledger.projections.postgres import PostgresViewStore

    store = PostgresViewStore(dbname="test", schema=pg_schema, listen_channel=f"{pg_schema}_wake")
    try:
        store.wait(0)  # starts listening
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'NOTIFY "{pg_schema}_wake"')
        started = time.monotonic()
        store.wait(30)
        assert time.monotonic() - started < 10
    finally:
        store.close()
