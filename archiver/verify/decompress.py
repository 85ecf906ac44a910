"""Bounded decompression stage of the verifier, in its own thread.

The caller's stream is hashed, counted and frame-tracked as it is read
(``InputTap``), and decoded in pieces that each decode to at most 1 MiB;
decompressed chunks come out of a small queue, so memory is bounded, and
decompression stops with a finding once the output passes an absolute size
or a ratio to the input: a zstd bomb costs a bounded amount of work. The
decoder's window is capped at ``MAX_WINDOW``. Whatever stops the stream
early still leaves the whole input read and hashed, for the detached
manifest's archive checks.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from typing import BinaryIO

import zstandard
from opsledger.archiver.verify.findings import Finding, FindingKind, finding
from opsledger.archiver.verify.zstdframes import Piece, ZstdFrameTracker

RATIO_FLOOR = 64 << 20  # tiny archives of zeros legitimately exceed any ratio
MAX_WINDOW = 1 << 27  # zstd's own default limit, made explicit: bounds decoder memory
READ_SIZE = 1 << 20


class StreamStopped(Exception):
    """The decompressor stopped early; ``finding`` says why."""

    def __init__(self, stop: Finding) -> None:
        super().__init__(stop.message)
        self.finding = stop


class InputTap:
    """The caller's stream as read for zstd: hashed, counted, frame-tracked,
    cut into tagged pieces (see ``zstdframes``)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.frames = ZstdFrameTracker()
        self.pieces = self._pieces()

    def _pieces(self) -> Iterator[Piece]:
        while data := self._stream.read(READ_SIZE):
            self.sha256.update(data)
            self.size += len(data)
            yield from self.frames.feed(data)
        yield from self.frames.finish()

    def drain(self) -> None:
        for _ in self.pieces:
            pass


_END = object()


class Decompressor:
    """Thread turning the tapped input into bounded decompressed chunks.

    The first zstd frame is decoded piece by piece (each piece decodes to at
    most 1 MiB), its content checksum verified by zstd itself once all its
    content has been handed out; skippable frames are never decoded, and
    what follows the first frame is only read and hashed.
    """

    def __init__(self, tap: InputTap, max_decompressed: int, max_ratio: float) -> None:
        self.tap = tap
        self.total = 0
        self.completed = False
        self._limit = max_decompressed
        self._ratio = max_ratio
        self._queue: queue.Queue[object] = queue.Queue(4)
        self._cancel = threading.Event()
        self._skip = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="zstd-decompress", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _over_limit(self) -> bool:
        return self.total > self._limit or (
            self.total > RATIO_FLOOR and self.total > self._ratio * self.tap.size)

    def _decode(self) -> Finding | None:
        dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        dobj = dctx.decompressobj(read_across_frames=False)
        role = ""
        try:
            for role, piece in self.tap.pieces:
                if role == "skippable" or (role == "junk" and self.tap.frames.frames):
                    continue
                data = dobj.decompress(piece)
                if data:
                    self.total += len(data)
                    if self._over_limit():
                        return finding(
                            FindingKind.DECOMPRESSION_LIMIT, None,
                            "decompression stopped: output exceeds the configured bound",
                            expected=f"<= {self._limit} bytes and <= {self._ratio}x the input",
                            actual=f"{self.total} bytes from {self.tap.size} compressed",
                        )
                    if not self._put(data):
                        return None
                if dobj.eof:
                    self.completed = True
                    return None
                if self._skip.is_set():
                    return None
        except zstandard.ZstdError as exc:
            if role == "checksum":
                return finding(FindingKind.ARCHIVE_CORRUPT, None,
                               "the zstd frame's content checksum does not match its content "
                               f"({exc})")
            return finding(FindingKind.ARCHIVE_CORRUPT, None,
                           f"zstd: {exc} (in the tar bytes after offset {self.total})")
        return None

    def _run(self) -> None:
        try:
            stop = self._decode()
            self.tap.drain()
            self._put(stop if stop is not None else _END)
        except OSError as exc:
            self._put(finding(FindingKind.ARCHIVE_UNREADABLE, None, f"reading the archive: {exc}"))
        except BaseException as exc:  # the caller's stream failed its own way: re-raised
            self._put(exc)

    def skip_rest(self) -> None:
        """Stop decoding (a cap was passed); the input is still read and hashed."""
        self._skip.set()

    def chunks(self) -> Iterator[bytes]:
        while not self._ended:
            item = self._queue.get()
            if item is _END:
                self._ended = True
            elif isinstance(item, Finding):
                self._ended = True
                raise StreamStopped(item)
            elif isinstance(item, BaseException):
                self._ended = True
                raise item
            else:
                yield item  # type: ignore[misc]

    def finish(self) -> None:
        """Drain whatever is left so the whole input gets hashed, then join."""
        try:
            for _ in self.chunks():
                pass
        except StreamStopped:
            pass
        self._thread.join()

    def abandon(self) -> None:
        self._cancel.set()
        self._thread.join()
