"""SQLite view store: views in their own file (`views.sqlite`), next to the events.

The views get a file of their own because two eventsourcing applications in
one SQLite file would share one events table. WAL lets readers keep reading
the last committed views while a batch or a rebuild's swap is being written;
`BEGIN IMMEDIATE` makes writers queue instead of failing halfway.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from opsledger.projections.errors import IntegrityCheckNotRun, ViewStoreError
from opsledger.projections.relational import RelationalViewStore
from opsledger.projections.schema import Dialect, q

DIALECT = Dialect(placeholder="?", types={"text": "TEXT", "int": "INTEGER", "real": "REAL"})
MAX_PROBLEMS = 20  # integrity_check's own default is 100 lines


def integrity_problems(path: Path) -> list[str]:
    """SQLite's `PRAGMA integrity_check` of the file at `path`, opened read-only:
    its problems, one line each (none: sound, or no such file)."""
    if not path.exists():
        return []
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        return _damage_or_raise(path, e)
    try:
        rows = connection.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as e:  # e.g. "database disk image is malformed"
        return _damage_or_raise(path, e)
    finally:
        connection.close()
    lines = [str(row[0]) for row in rows]
    return [] if lines == ["ok"] else lines


def _damage_or_raise(path: Path, error: sqlite3.Error) -> list[str]:
    """A damaged file is the check's finding; a check that could not run (the
    disk full, the file unreadable, locked) is no verdict on the file at all."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or not name:
        return [str(error)]
    raise IntegrityCheckNotRun(f"{path.name}: SQLite's integrity check could not run ({error})")


class SQLiteViewStore(RelationalViewStore):
    dialect = DIALECT
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=timeout, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            # A crash may lose the last commits but never splits rows from their
            # position, and losing a commit only means re-applying those events.
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as e:
            raise ViewStoreError(f"view store {self.path}: {e}") from None
        super().__init__(connection, str(self.path))

    def qualify(self, name: str) -> str:
        return q(name)

    def table_exists(self, cur: Any, name: str) -> bool:
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return cur.fetchone() is not None

    def begin(self, *, write: bool) -> None:
        self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def end(self, handle: Any, *, commit: bool) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT" if commit else "ROLLBACK")
