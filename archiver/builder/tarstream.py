"""Write a POSIX pax tar stream member by member, without seeking.

``tarfile`` wants a file object per member; the bag writer instead pushes
chunks that were read (and hashed) by another thread, so this module only
borrows ``tarfile.TarInfo`` to render headers and does the framing itself.
Headers are normalised (uid/gid 0, no user names, integer mtimes) so the
same input always gives the same tar bytes.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable

from opsledger.archiver.errors import TarFormatError

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
_ZEROS = bytes(RECORD)

Sink = Callable[[bytes | memoryview], object]


def _header(name: str, kind: bytes, size: int, mtime: int, mode: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = mtime
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


class TarStreamWriter:
    """Frames members into ``sink``; ``size`` counts the tar bytes produced."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.size = 0
        self._open_name: str | None = None
        self._remaining = 0
        self._member_size = 0
        self._closed = False

    def _emit(self, data: bytes | memoryview) -> None:
        self._sink(data)
        self.size += len(data)

    def add_directory(self, name: str, mtime: int) -> None:
        self._require_idle()
        self._emit(_header(name.rstrip("/") + "/", tarfile.DIRTYPE, 0, mtime, 0o755))

    def begin_file(self, name: str, size: int, mtime: int, mode: int = 0o644) -> None:
        self._require_idle()
        self._emit(_header(name, tarfile.REGTYPE, size, mtime, mode))
        self._open_name = name
        self._remaining = self._member_size = size

    def write(self, data: bytes | memoryview) -> None:
        if self._open_name is None:
            raise TarFormatError("tar data written outside a member")
        if len(data) > self._remaining:
            raise TarFormatError(
                f"{self._open_name}: more data than the {self._member_size} bytes in its header"
            )
        self._remaining -= len(data)
        self._emit(data)

    def end_file(self) -> None:
        if self._open_name is None:
            raise TarFormatError("end_file without begin_file")
        if self._remaining:
            raise TarFormatError(
                f"{self._open_name}: {self._remaining} bytes short of the size in its header"
            )
        tail = self._member_size % BLOCK
        if tail:
            self._emit(_ZEROS[: BLOCK - tail])
        self._open_name = None

    def add_file_bytes(self, name: str, data: bytes, mtime: int, mode: int = 0o644) -> None:
        self.begin_file(name, len(data), mtime, mode)
        if data:
            self.write(data)
        self.end_file()

    def close(self) -> None:
        """End-of-archive marker, padded to a whole record like GNU tar."""
        self._require_idle()
        self._emit(_ZEROS[: 2 * BLOCK])
        tail = self.size % RECORD
        if tail:
            self._emit(_ZEROS[: RECORD - tail])
        self._closed = True

    def _require_idle(self) -> None:
        if self._closed:
            raise TarFormatError("tar stream already closed")
        if self._open_name is not None:
            raise TarFormatError(f"{self._open_name}: member not finished")
