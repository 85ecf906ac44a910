"""Export bytes as a stream of text chunks: plain or gzip, UTF-8 checked, bounded.

Memory stays bounded whatever the input: raw bytes are read ``CHUNK`` at a time, gzip
output is taken at most ``CHUNK`` at a time, and text is decoded incrementally. Two
documented limits refuse what would only burn time:

* ``MAX_DECOMPRESSED``: at most 4 GiB of JSON per file once decompressed;
* ``MAX_RATIO``: past 16 MiB of output, gzip that inflates more than 200-fold is refused
  as a likely gzip bomb (JSON exports compress 5-30-fold).
"""

from __future__ import annotations

import codecs
import os
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from opsledger.domain.sla.errors import ExportError

Payload = bytes | bytearray | memoryview | BinaryIO
Progress = Callable[[int, int | None], None]  # (raw bytes read, total if known)

CHUNK = 1 << 20
MAX_DECOMPRESSED = 4 << 30
MAX_RATIO = 200
RATIO_AFTER = 16 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class TextChunks:
    """Iterates the text of a source; ``where`` is "decompressed " inside gzip."""

    def __init__(self, data: Payload, source: str, progress: Progress | None = None) -> None:
        self.source = source
        self.where = ""
        self._progress = progress
        self._raw = _raw_chunks(data, source)
        self._read = 0
        self._total = _size(data)

    def __iter__(self) -> Iterator[str]:
        first = b""
        while len(first) < 2 and (more := next(self._raw, b"")):
            self._count(more)
            first += more
        if first[:2] == _GZIP_MAGIC:
            self.where = "decompressed "
            stream = self._inflate(first)
        else:
            stream = self._plain(first)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        done = 0
        for block in stream:
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                position = f"{self.where}byte {done + exc.start}"
                raise ExportError(self.source, position, "not valid UTF-8") from None
            done += len(block)
            if text:
                yield text
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            position = f"{self.where}byte {done + exc.start}"
            raise ExportError(self.source, position, "not valid UTF-8") from None

    def _count(self, chunk: bytes) -> None:
        self._read += len(chunk)
        if self._progress is not None:
            self._progress(self._read, self._total)

    def _plain(self, first: bytes) -> Iterator[bytes]:
        if first:
            yield first
        for chunk in self._raw:
            self._count(chunk)
            yield chunk

    def _more(self) -> bytes:
        chunk = next(self._raw, b"")
        self._count(chunk)
        return chunk

    def _inflate(self, pending: bytes) -> Iterator[bytes]:
        # `start` is the compressed offset of pending[0]; zlib rather than gzip.open so
        # that a corrupt member is named by the offset where it starts.
        start, out = 0, 0
        while True:
            while len(pending) < 2 and (more := self._more()):
                pending += more
            if not pending:
                return
            if pending[:2] != _GZIP_MAGIC:
                self._padding(pending, start)
                return
            member, inflater = start, zlib.decompressobj(wbits=31)
            while True:
                try:
                    block = inflater.decompress(pending, CHUNK)
                except zlib.error as exc:
                    raise ExportError(
                        self.source, f"gzip member at byte {member}", f"corrupt gzip data: {exc}"
                    ) from None
                rest = inflater.unconsumed_tail
                if inflater.eof:
                    rest = inflater.unused_data + rest  # the next member, or padding
                start += len(pending) - len(rest)
                pending = rest
                if block:
                    out += len(block)
                    self._check(out, start)
                    yield block
                if inflater.eof:
                    break
                if not pending and not block:
                    pending = self._more()
                    if not pending:
                        raise ExportError(
                            self.source, f"byte {start}", "gzip stream is truncated"
                        )

    def _padding(self, pending: bytes, start: int) -> None:
        # Zero padding after the last member is tolerated, as gzip(1) does.
        while pending:
            if any(pending):
                raise ExportError(
                    self.source, f"byte {start}", "trailing data after the gzip stream"
                )
            pending = self._more()

    def _check(self, out: int, consumed: int) -> None:
        if out > MAX_DECOMPRESSED:
            raise ExportError(
                self.source,
                f"decompressed byte {MAX_DECOMPRESSED}",
                f"more than {MAX_DECOMPRESSED >> 30} GiB once decompressed: refused",
            )
        if out > RATIO_AFTER and out > MAX_RATIO * max(consumed, 1):
            raise ExportError(
                self.source,
                f"byte {consumed}",
                f"gzip inflates more than {MAX_RATIO}-fold ({out >> 20} MiB from "
                f"{consumed} bytes): refused as a likely gzip bomb",
            )


def _raw_chunks(data: Payload, source: str) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for at in range(0, len(view), CHUNK):
            yield bytes(view[at : at + CHUNK])
        return
    while True:
        try:
            chunk = data.read(CHUNK)
        except OSError as exc:
            raise ExportError(source, "byte 0", f"cannot read: {exc}") from None
        if not isinstance(chunk, bytes):
            raise ExportError(source, "byte 0", "the stream must be opened in binary mode")
        if not chunk:
            return
        yield chunk


def _size(data: Payload) -> int | None:
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    try:
        return os.fstat(data.fileno()).st_size or None
    except (AttributeError, OSError, ValueError):
        return None
