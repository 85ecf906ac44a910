"""A full disk, said as such.

SQLite reports a full disk as "database or disk is full", or as "disk I/O
error" when it is its shared-memory or journal file that could not grow; the
archive store's folder reports ENOSPC. Either way the failed write is rolled
back and what was recorded before is kept, so the user's remedy is to free
space and run the command again: `out_of_space` turns such a failure into
one line that says so, naming the folder and its free space.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.services.errors import Incomplete

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

LOW = 1 << 20  # under this many free bytes, a write failure is the disk's being full
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class OutOfSpace(Incomplete):
    """A write failed because the disk (or the quota) holding a store is full."""


def out_of_space(services: Services | None, error: BaseException) -> OutOfSpace | None:
    """An `OutOfSpace` for `error` when it (or what caused it) is a full disk."""
    home = services.settings.home if services is not None else None
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in _NO_SPACE:
            return _said(Path(cause.filename).parent if cause.filename else home)
        if isinstance(cause, sqlite3.Error):
            name = getattr(cause, "sqlite_errorname", "") or ""
            if name == "SQLITE_FULL" or "disk is full" in str(cause):
                return _said(home)
            # "disk I/O error" is a full disk only when the store's disk is nearly full
            if name.startswith("SQLITE_IOERR") or "disk I/O error" in str(cause):
                free = _free(home) if home is not None else None
                if free is not None and free < LOW:
                    return _said(home, free)
    return None


def _said(folder: Path | None, free: int | None = None) -> OutOfSpace:
    if free is None and folder is not None:
        free = _free(folder)
    where = f"the disk holding {folder}" if folder is not None else "the disk"
    left = f" ({_size(free)} free)" if free is not None else ""
    return OutOfSpace(f"no space left on {where}{left}: nothing was written, and nothing "
                      "recorded before is lost; free some space and run the command again")


def _free(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
