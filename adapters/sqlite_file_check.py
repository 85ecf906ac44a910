"""An embedded (SQLite) event store is as append-only as its file permissions.

SQLite has no roles: whoever may write the database file, its journal or its
folder may rewrite history, so `sqlite_file_check` reports their modes.
"""

from __future__ import annotations

import errno
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FileState:
    path: str
    mode: str
    others_can_write: bool


@dataclass(frozen=True)
class SQLiteFileReport:
    """An embedded store is as append-only as its file: anyone who may write
    the file, its journal or its folder may rewrite history."""

    files: list[FileState]

    @property
    def hardened(self) -> bool:
        return not any(f.others_can_write for f in self.files)

    def as_document(self) -> dict[str, Any]:
        return {
            "backend": "sqlite",
            "hardened": self.hardened,
            "files": [asdict(f) for f in self.files],
            "note": "SQLite has no roles; only the file permissions protect the events, "
            "and never from the file's owner",
        }


def sqlite_file_check(database: Path) -> SQLiteFileReport:
    """The modes of the database file, its WAL/journal files and its folder."""
    if not database.is_file():
        raise FileNotFoundError(errno.ENOENT, "no event store here", str(database))
    paths = [database.parent, database] + [
        p for p in (database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))
        if p.exists()
    ]
    files = []
    for path in paths:
        mode = path.stat().st_mode
        files.append(
            FileState(str(path), f"{stat.S_IMODE(mode):04o}", bool(mode & (stat.S_IWGRP | stat.S_IWOTH)))
        )
    return SQLiteFileReport(files)
