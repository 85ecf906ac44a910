"""The text inside compressed payload files, for the secret scanner.

The runbook's sessions hold compressed logs (``logs_<timestamp>.tar.gz``); a
key inside one would be sealed as surely as one in plain text. This stage
turns a compressed file's chunks into the texts inside it, streaming: the
decompressors read through a file object over the chunks, at most ``READ``
bytes come out at a time, and a tar inside is walked member by member
(``tarscan``), so memory stays bounded whatever the sizes.

gzip (also concatenated members), zstd, bzip2 and xz are read as streams.
A zip keeps its directory at the end, so its bytes are first spooled (in
memory up to ``ZIP_SPOOL``, then to a temporary file) and its members are
read with the standard library's ``zipfile``; an encrypted member cannot be
read and is reported as such (the caller refuses it).
Output beyond ``expansion_limit`` stops the scan of that file: a bomb costs
a bounded amount of work, and the file is reported as not scanned.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from itertools import chain

import zstandard
from opsledger.archiver.errors import ArchiverError, TarFormatError
from opsledger.archiver.tarscan import MemberKind, TarScanner

READ = 1 << 20
EXPANSION_FLOOR = 1 << 30  # small files of zeros legitimately exceed any ratio
EXPANSION_RATIO = 200
MAX_WINDOW = 1 << 27  # zstd's default limit, made explicit: bounds decoder memory
ZIP_SPOOL = 16 << 20  # a zip's bytes kept in memory up to this, then in a temporary file

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"),
          (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))
# suffix -> what the decompressed file is called
_SUFFIXES = {"gzip": {".tgz": ".tar", ".gz": ""}, "zstd": {".tzst": ".tar", ".zst": ""},
             "bzip2": {".tbz2": ".tar", ".bz2": ""}, "xz": {".txz": ".tar", ".xz": ""}}
SNIFF_BYTES = 262  # a tar's "ustar" magic sits at offset 257
_TAR_MAGIC = slice(257, 262)


class UnpackError(ArchiverError):
    """A compressed payload file cannot be read through (unsupported, corrupt, too large)."""


class EncryptedMember(Exception):
    """A member of a zip that cannot be read without its password."""


def sniff(head: bytes | bytearray | memoryview) -> str | None:
    """The packing (a compression, zip or tar) named by a file's first
    ``SNIFF_BYTES`` bytes, or None: plain text to scan as it is."""
    head = bytes(head[:SNIFF_BYTES])
    found = next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)
    if found is None and head[_TAR_MAGIC] == b"ustar":
        return "tar"  # an uncompressed tar: its members are read one by one
    return found


def expansion_limit(compressed_size: int) -> int:
    return max(EXPANSION_FLOOR, EXPANSION_RATIO * compressed_size)


def inner_name(path: str, fmt: str) -> str:
    """``logs.json.gz`` -> ``logs.json``: how findings name a decompressed file."""
    name = path.rsplit("/", 1)[-1]
    for suffix, replacement in _SUFFIXES.get(fmt, {}).items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return f"{name} ({fmt}-decompressed)"


class _ChunkReader(io.RawIOBase):
    """The compressed chunks as a readable file object."""

    def __init__(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not len(self._view):
            self._view = memoryview(b"")  # drop the spent chunk before asking for the next
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n


def _decompressor(fmt: str, raw: _ChunkReader) -> io.BufferedIOBase:
    if fmt == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if fmt == "zstd":
        reader = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_reader(
            raw, read_size=READ, read_across_frames=True)
        return reader  # type: ignore[return-value]
    if fmt == "bzip2":
        return bz2.BZ2File(raw)
    if fmt == "xz":
        return lzma.LZMAFile(raw)
    raise UnpackError(f"{fmt} archives are not scanned")


def _decompressed(fmt: str, chunks: Iterable[bytes | bytearray | memoryview],
                  limit: int) -> Iterator[bytes]:
    total = 0
    try:
        with _decompressor(fmt, _ChunkReader(chunks)) as stream:
            while data := stream.read(READ):
                total += len(data)
                if total > limit:
                    raise UnpackError(f"decompresses to more than {limit:,} bytes")
                yield data
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as exc:
        raise UnpackError(f"{fmt} data is corrupt or truncated: {exc}") from None


def texts(path: str, fmt: str, chunks: Iterable[bytes | bytearray | memoryview], *,
          limit: int) -> Iterator[tuple[str, Iterator[memoryview | bytes]]]:
    """``(name, chunks)`` of each text inside: every regular member of a tar
    or a zip, else the one decompressed file. Each text must be read before
    the next is asked for; an encrypted zip member's chunks raise
    ``EncryptedMember``. Raises ``UnpackError`` when the data cannot be read
    through."""
    if fmt == "zip":
        yield from _zip_members(chunks, limit)
        return
    data = iter(chunks) if fmt == "tar" else _decompressed(fmt, chunks, limit)
    first = next(data, b"")
    if fmt == "tar" or (len(first) >= 512 and first[_TAR_MAGIC] == b"ustar"):
        scanner = TarScanner(chain([first], data))
        try:
            for member in scanner:
                if member.kind is MemberKind.FILE and member.size:
                    yield member.name, _tar_errors(scanner.data())
        except TarFormatError as exc:
            raise UnpackError(f"the tar inside is malformed: {exc}") from None
        return
    yield inner_name(path, fmt), chain([first], data) if first else iter(())


def _tar_errors(views: Iterator[memoryview]) -> Iterator[memoryview]:
    try:
        yield from views
    except TarFormatError as exc:
        raise UnpackError(f"the tar inside is malformed: {exc}") from None


def _zip_members(chunks: Iterable[bytes | bytearray | memoryview],
                 limit: int) -> Iterator[tuple[str, Iterator[bytes]]]:
    with tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL) as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            archive = zipfile.ZipFile(spool)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UnpackError(f"zip data is corrupt or truncated: {exc}") from None
        total = [0]
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                yield info.filename, _zip_member(archive, info, limit, total)


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int,
                total: list[int]) -> Iterator[bytes]:
    if info.flag_bits & 0x1:
        raise EncryptedMember(info.filename)
    try:
        with archive.open(info) as member:
            while data := member.read(READ):
                total[0] += len(data)
                if total[0] > limit:
                    raise UnpackError(f"decompresses to more than {limit:,} bytes")
                yield data
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, lzma.LZMAError,
            NotImplementedError, RuntimeError) as exc:
        raise UnpackError(f"zip member {info.filename!r} is corrupt or unsupported: "
                          f"{exc}") from None
