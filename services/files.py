"""Digests of files the user names (evidence, session files)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from opsledger.services.errors import InvalidRequest

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a regular file, read in chunks (evidence may be large).

    Anything else is refused before a byte is read: /dev/zero never ends, and a
    FIFO blocks until someone writes (it is opened non-blocking to look)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise InvalidRequest(f"{path}: {kind}, not a regular file; give a file to record")
        digest = hashlib.sha256()
        size = 0
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
