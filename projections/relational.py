"""The view store over a DB-API connection, shared by SQLite and PostgreSQL.

Adapters supply the connection, the dialect and the few statements that
differ (locking, key lists, bulk insert, catalogue lookups); the SQL that
defines and fills the views is written once, in `projections.schema`.
"""

from __future__ import annotations

import secrets
from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opsledger.projections.errors import ViewStoreError
from opsledger.projections.schema import Dialect, Table, Where, index_name, q
from opsledger.projections.store import Tracking, ViewStore, ViewWriter

TRACKING = "view_tracking"
SCAN_PAGE = 5000


class RelationalWriter(ViewWriter):
    def __init__(self, store: RelationalViewStore, cursor: Any) -> None:
        self.store = store
        self.cur = cursor
        self.ph = store.dialect.placeholder

    def lock(self, keys: Sequence[str]) -> dict[str, Tracking]:
        marks = ", ".join(self.ph for _ in keys)
        self.cur.execute(
            f"SELECT name, position, version, token FROM {self.store.qualify(TRACKING)} "
            f"WHERE name IN ({marks}) ORDER BY name{self.store.lock_clause}",
            list(keys),
        )
        return {name: Tracking(pos, ver, tok) for name, pos, ver, tok in self.cur.fetchall()}

    def set_tracking(self, entries: Mapping[str, Tracking]) -> None:
        if not entries:
            return
        ph = self.ph
        values = ", ".join(f"({ph}, {ph}, {ph}, {ph})" for _ in entries)
        params = [v for key, t in entries.items() for v in (key, t.position, t.version, t.token)]
        self.cur.execute(
            f"INSERT INTO {self.store.qualify(TRACKING)} (name, position, version, token) "
            f"VALUES {values} ON CONFLICT (name) DO UPDATE SET "
            "position = excluded.position, version = excluded.version, token = excluded.token",
            params,
        )

    def drop_tracking(self, key: str) -> None:
        self.cur.execute(
            f"DELETE FROM {self.store.qualify(TRACKING)} WHERE name = {self.ph}", (key,)
        )

    def load(self, table: Table, physical: str, keys: Collection[Any]) -> list[tuple[Any, ...]]:
        if not keys:
            return []
        (key,) = table.key
        return self.store.select_keys(self.cur, table, self.store.qualify(physical), key, list(keys))

    def insert(self, table: Table, physical: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.store.bulk_insert(self.cur, table, self.store.qualify(physical), rows)

    def upsert(self, table: Table, physical: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.cur.executemany(
                self.store.dialect.upsert(table, self.store.qualify(physical)), rows
            )

    def create_table(self, table: Table, physical: str) -> None:
        self.drop_table(physical)
        self.cur.execute(self.store.dialect.create_table(table, self.store.qualify(physical)))

    def create_indexes(self, table: Table, physical: str, token: str) -> None:
        for number, columns in enumerate(table.indexes):
            name = index_name(table, number, token)
            self.cur.execute(
                self.store.dialect.create_index(table, self.store.qualify(physical), columns, name)
            )
        self.store.after_indexes(self.cur, self.store.qualify(physical))

    def drop_table(self, physical: str) -> None:
        self.cur.execute(f"DROP TABLE IF EXISTS {self.store.qualify(physical)}")

    def rename_table(self, physical: str, new_name: str) -> None:
        self.cur.execute(f"ALTER TABLE {self.store.qualify(physical)} RENAME TO {q(new_name)}")


class RelationalViewStore(ViewStore):
    dialect: Dialect
    lock_clause: str = ""
    driver_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, connection: Any, description: str) -> None:
        self.conn = connection
        self.description = description

    # --- what each adapter says differently ------------------------------------------

    @abstractmethod
    def qualify(self, name: str) -> str:
        """The quoted, schema-qualified name of a table."""

    @abstractmethod
    def table_exists(self, cur: Any, name: str) -> bool: ...

    @abstractmethod
    def begin(self, *, write: bool) -> Any:
        """Starts a transaction; returns a handle `end` takes back."""

    @abstractmethod
    def end(self, handle: Any, *, commit: bool) -> None: ...

    def serialise_install(self, cur: Any) -> None:
        """Keeps two processes from creating the same tables at once."""

    def read_cursor(self) -> Any:
        return self.conn.cursor()

    def after_indexes(self, cur: Any, physical: str) -> None:
        """Whatever the store wants once a table is filled and indexed."""

    def select_keys(
        self, cur: Any, table: Table, physical: str, key: str, keys: list[Any]
    ) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        columns = ", ".join(q(c) for c in table.column_names)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join(self.dialect.placeholder for _ in chunk)
            cur.execute(f"SELECT {columns} FROM {physical} WHERE {q(key)} IN ({marks})", chunk)
            rows.extend(cur.fetchall())
        return rows

    def bulk_insert(
        self, cur: Any, table: Table, physical: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        cur.executemany(self.dialect.insert(table, physical), rows)

    # --- the port ------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self.driver_errors as e:
            lines = str(e).strip().splitlines()
            reason = lines[0] if lines else type(e).__name__
            raise ViewStoreError(f"view store {self.description}: {reason}") from e

    def install(self, tables: Sequence[Table], versions: Mapping[str, int]) -> None:
        with self.transaction() as writer:
            cur = writer.cur
            self.serialise_install(cur)
            # No DDL at all when the tables are there: a role that may only read
            # and write the views' rows (a hardened PostgreSQL) never needs CREATE.
            if not self.table_exists(cur, TRACKING):
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.qualify(TRACKING)} (name TEXT PRIMARY KEY, "
                    "position BIGINT NOT NULL, version INTEGER NOT NULL, token TEXT NOT NULL)"
                )
            for table in tables:
                if not self.table_exists(cur, table.name):
                    writer.create_table(table, table.name)
                    writer.create_indexes(table, table.name, secrets.token_hex(4))
            known = writer.lock(list(versions))
            writer.set_tracking(
                {name: Tracking(0, version) for name, version in versions.items() if name not in known}
            )

    def tracking(self) -> dict[str, Tracking]:
        with self._errors():
            cur = self.conn.cursor()
            if not self.table_exists(cur, TRACKING):
                return {}
            cur.execute(f"SELECT name, position, version, token FROM {self.qualify(TRACKING)}")
            return {name: Tracking(pos, ver, tok) for name, pos, ver, tok in cur.fetchall()}

    @contextmanager
    def transaction(self) -> Iterator[RelationalWriter]:
        with self._errors():
            handle = self.begin(write=True)
            try:
                yield RelationalWriter(self, self.conn.cursor())
            except BaseException:
                self.end(handle, commit=False)
                raise
            self.end(handle, commit=True)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._errors():
            handle = self.begin(write=False)
            try:
                yield
            finally:
                self.end(handle, commit=False)

    def select(
        self,
        table: Table,
        where: Sequence[Where] = (),
        order_by: Sequence[str] = (),
        limit: int | None = None,
        descending: bool = False,
    ) -> list[tuple[Any, ...]]:
        sql, params = self.dialect.select(
            table, self.qualify(table.name), where, order_by, limit, descending
        )
        with self._errors():
            cur = self.read_cursor()
            cur.execute(sql, params)
            return cur.fetchall()

    def scan(self, table: Table) -> Iterator[tuple[Any, ...]]:
        # Keyset pages rather than one cursor: works the same inside or outside a
        # transaction on both stores, and never holds a million rows in memory.
        (key,) = table.key
        at = table.column_names.index(key)
        last: Any = None
        while True:
            where = [(key, ">", last)] if last is not None else []
            page = self.select(table, where, order_by=(key,), limit=SCAN_PAGE)
            yield from page
            if len(page) < SCAN_PAGE:
                return
            last = page[-1][at]

    def close(self) -> None:
        with self._errors():
            self.conn.close()
