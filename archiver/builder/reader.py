"""The payload reader: read the planned files once, in chunks, in one thread.

The reader thread reads every file exactly once into pooled buffers, computes
sha256 and sha512 while the buffer is still in its core's cache (hashlib
releases the GIL), hands it to the secret scan when there is one (a
``ChunkTap``, which scans it in this thread too), and then to the tar
writer, whose zstd workers compress it on the other core. A buffer returns
to the pool once written (and scanned), which is what bounds memory
whatever the input size.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import stat
import threading
from typing import Protocol

from opsledger.archiver.errors import SourceChangedError, SourceReadError
from opsledger.archiver.payload import PayloadFile, PayloadPlan


class BufferPool:
    """Up to ``count`` reusable read buffers; ``acquire`` gives up on cancel.

    Buffers are allocated on first need, so a small session never pays for
    (or holds) the whole pool. Only the reader thread acquires.
    """

    def __init__(self, count: int, size: int, cancel: threading.Event) -> None:
        self.size = size
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._unallocated = count
        self._cancel = cancel

    def acquire(self) -> bytearray | None:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._unallocated:
            self._unallocated -= 1
            return bytearray(self.size)
        while not self._cancel.is_set():
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def release(self, buf: bytearray) -> None:
        self._free.put(buf)


class Chunk:
    """A filled buffer on its way to the writer (and the tap, if any),
    recycled once each of its ``users`` has called ``done()``."""

    __slots__ = ("view", "_buf", "_pool", "_countdown")

    def __init__(self, buf: bytearray, n: int, pool: BufferPool, users: int = 1) -> None:
        self._buf = buf
        self.view = memoryview(buf)[:n]
        self._pool = pool
        # next() on a count is atomic under the GIL: users finish on any thread.
        self._countdown = itertools.count(users - 1, -1)

    def done(self) -> None:
        if next(self._countdown) == 0:
            self.view.release()
            self._pool.release(self._buf)


class ChunkTap(Protocol):
    """Also receives every chunk read (the secret scan), in file order."""

    def begin(self, index: int) -> None: ...

    def data(self, chunk: Chunk) -> None:
        """Must call ``chunk.done()`` once finished with it."""

    def end(self, index: int) -> None: ...


# Messages from the reader to the tar writer.
BEGIN, DATA, END, DONE, FAILED = range(5)
Message = tuple[int, object]


class PayloadReader:
    """Thread that reads ``plan`` once, digesting each chunk and queueing it
    (and handing it to ``tap``, when given).

    ``digests[alg][i]`` is the hex digest of ``plan.files[i]`` once the
    reader has sent ``DONE``.
    """

    def __init__(
        self,
        plan: PayloadPlan,
        algorithms: tuple[str, ...],
        pool: BufferPool,
        cancel: threading.Event,
        tap: ChunkTap | None = None,
    ) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.digests: dict[str, list[str]] = {alg: [] for alg in algorithms}
        self._plan = plan
        self._pool = pool
        self._cancel = cancel
        self._tap = tap
        self._users = 1 if tap is None else 2
        self._thread = threading.Thread(target=self._run, name="payload-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        try:
            for index, item in enumerate(self._plan.files):
                if self._cancel.is_set():
                    return
                self._read_file(index, item)
            self.messages.put((DONE, None))
        except BaseException as exc:
            self.messages.put((FAILED, exc))

    def _read_file(self, index: int, item: PayloadFile) -> None:
        try:
            fd = os.open(item.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise SourceReadError(f"cannot open {item.path!r}: {exc.strerror or exc}") from None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise SourceChangedError(item.rel, "is no longer a regular file")
            if before.st_size != item.size:
                raise SourceChangedError(
                    item.rel, f"size changed from {item.size} to {before.st_size} bytes before it was read"
                )
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            self.messages.put((BEGIN, (index, int(before.st_mtime))))
            if self._tap is not None:
                self._tap.begin(index)
            hashers = [hashlib.new(alg) for alg in self.digests]
            remaining = item.size
            while remaining:
                buf = self._pool.acquire()
                if buf is None:
                    return
                try:
                    n = os.readv(fd, [memoryview(buf)[: min(remaining, self._pool.size)]])
                except OSError as exc:
                    self._pool.release(buf)
                    raise SourceReadError(f"cannot read {item.path!r}: {exc.strerror or exc}") from None
                if n == 0:
                    self._pool.release(buf)
                    raise SourceChangedError(
                        item.rel,
                        f"shrank while being read: ended after {item.size - remaining}"
                        f" of {item.size} bytes",
                    )
                chunk = Chunk(buf, n, self._pool, self._users)
                for hasher in hashers:
                    hasher.update(chunk.view)
                if self._tap is not None:
                    self._tap.data(chunk)
                self.messages.put((DATA, chunk))
                remaining -= n
            if os.read(fd, 1):
                raise SourceChangedError(item.rel, f"grew beyond {item.size} bytes while being read")
            after = os.fstat(fd)
            if after.st_size != before.st_size or after.st_mtime_ns != before.st_mtime_ns:
                raise SourceChangedError(item.rel, "was modified while being read")
            for hasher, results in zip(hashers, self.digests.values(), strict=True):
                results.append(hasher.hexdigest())
            if self._tap is not None:
                self._tap.end(index)
            self.messages.put((END, index))
        finally:
            os.close(fd)

