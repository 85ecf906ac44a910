"""PostgreSQL view store: views in the events' database and schema.

The connection runs in autocommit so that a read never leaves a transaction
open (which would block a rebuild's swap); writes are explicit transactions
that lock the tracking rows they advance, so concurrent catch-ups queue and
each event is applied once. Appends go through COPY. `wait` LISTENs on the
channel the eventsourcing recorder NOTIFYs on every insert.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from opsledger.projections.errors import ViewStoreError
from opsledger.projections.relational import RelationalViewStore
from opsledger.projections.schema import Dialect, Table, names, q
from psycopg import sql

DIALECT = Dialect(
    placeholder="%s", types={"text": "TEXT", "int": "BIGINT", "real": "DOUBLE PRECISION"}
)
_BINARY_TYPES = {"text": "text", "int": "int8", "real": "float8"}
SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresViewStore(RelationalViewStore):
    dialect = DIALECT
    lock_clause = " FOR UPDATE"
    driver_errors = (psycopg.Error,)

    def __init__(
        self,
        *,
        dbname: str,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = "postgres",
        password: str = "",
        schema: str = "public",
        connect_timeout: int = 5,
        listen_channel: str | None = None,
    ) -> None:
        if not SCHEMA_NAME.fullmatch(schema):
            raise ViewStoreError(f"view store: {schema!r} is not a plain schema name")
        self.schema = schema
        self.listen_channel = listen_channel
        self._params: dict[str, Any] = {
            "dbname": dbname,
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "connect_timeout": connect_timeout,
        }
        self._listener: psycopg.Connection[Any] | None = None
        where = f"postgresql://{user}@{host}:{port}/{dbname}?schema={schema}"
        try:
            # Views are rebuilt from the log at will: a server crash may forget the
            # last batches committed (never half of one, never rows without their
            # position), which only means catching them up again; not waiting for
            # the WAL flush of every batch saves a round trip to the disk per batch.
            connection = psycopg.connect(
                autocommit=True, options="-c synchronous_commit=off", **self._params
            )
        except psycopg.Error as e:
            raise ViewStoreError(f"view store {where}: {_line(e)}") from None
        super().__init__(connection, where)

    def qualify(self, name: str) -> str:
        return f"{q(self.schema)}.{q(name)}"

    def table_exists(self, cur: Any, name: str) -> bool:
        cur.execute("SELECT to_regclass(%s)", (self.qualify(name),))
        return cur.fetchone()[0] is not None

    def begin(self, *, write: bool) -> Any:
        handle = self.conn.transaction()
        handle.__enter__()
        if not write:
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return handle

    def end(self, handle: Any, *, commit: bool) -> None:
        if commit:
            handle.__exit__(None, None, None)
        else:
            handle.__exit__(psycopg.Rollback, psycopg.Rollback(), None)

    def serialise_install(self, cur: Any) -> None:
        # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
        # schema exists: only an administrator's first run creates it.
        cur.execute("SELECT to_regnamespace(%s)", (q(self.schema),))
        if cur.fetchone()[0] is None:
            cur.execute("CREATE SCHEMA IF NOT EXISTS " + q(self.schema))
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"opsledger.views.{self.schema}",))

    def read_cursor(self) -> Any:
        # Rows come back in binary: a query returning hundreds of incidents
        # spent most of its time parsing their numbers from text.
        return self.conn.cursor(binary=True)

    def after_indexes(self, cur: Any, physical: str) -> None:
        # A freshly filled table has no statistics until autovacuum comes by;
        # without them the planner guesses two rows for any filter.
        cur.execute(f"ANALYZE {physical}")

    def select_keys(
        self, cur: Any, table: Table, physical: str, key: str, keys: list[Any]
    ) -> list[tuple[Any, ...]]:
        cur.execute(
            f"SELECT {names(table.column_names)} FROM {physical} WHERE {q(key)} = ANY(%s)", (keys,)
        )
        return cur.fetchall()

    def bulk_insert(
        self, cur: Any, table: Table, physical: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        # Binary: the server copies numbers and text as they are instead of parsing them.
        statement = f"COPY {physical} ({names(table.column_names)}) FROM STDIN (FORMAT BINARY)"
        with cur.copy(statement) as copy:
            copy.set_types([_BINARY_TYPES[c.type] for c in table.columns])
            for row in rows:
                copy.write_row(row)

    def read_every_event(self, table: str) -> list[str]:
        """PostgreSQL's part of an integrity check: every row of the events table
        read whole (its stored bytes too); what a damaged page made unreadable,
        one line (none: every row read)."""
        if not SCHEMA_NAME.fullmatch(table):
            raise ViewStoreError(f"view store: {table!r} is not a plain table name")
        try:
            self.conn.execute(
                f"SELECT count(*), max(md5(state)) FROM {self.qualify(table)}"
            ).fetchone()
        except (psycopg.DataError, psycopg.InternalError) as e:  # data_corrupted, XX...
            return [f"reading every row of {table}: {_line(e)}"]
        except psycopg.Error as e:
            raise ViewStoreError(f"view store {self.description}: {_line(e)}") from None
        return []

    def wait(self, timeout: float) -> None:
        if self.listen_channel is None:
            super().wait(timeout)
            return
        try:
            if self._listener is None:
                self._listener = psycopg.connect(autocommit=True, **self._params)
                self._listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.listen_channel)))
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as e:
            raise ViewStoreError(f"view store {self.description}: {_line(e)}") from None

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        super().close()


def _line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
