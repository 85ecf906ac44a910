"""Digest stage of the verifier: one thread per algorithm, same chunks in order.

hashlib releases the GIL on large updates, so sha256 and sha512 run beside
the decompressor thread and the tar scanner; one thread per algorithm keeps
the slowest digest (sha512, on CPUs with SHA-NI for sha256 only) from
serialising behind the other. (The writer digests in its reader thread
instead: there the bottleneck is zstd, which has threads of its own.)
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Hashable

ALGORITHMS = ("sha256", "sha512")

_BEGIN, _DATA, _END, _STOP = range(4)


class DigestWorker:
    """Hashes a sequence of members: ``begin(key)``, ``feed(...)``, ``end()``.

    ``feed`` takes an optional ``done`` callback run once the bytes are
    hashed, so the producer can recycle its buffer. Results land in
    ``digests[key]`` (hex) once ``close()`` has returned.
    """

    def __init__(self, algorithm: str, *, max_pending: int = 0) -> None:
        self.algorithm = algorithm
        self.digests: dict[Hashable, str] = {}
        self._queue: queue.Queue[tuple[int, object, Callable[[], None] | None]] = queue.Queue(
            max_pending
        )
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"digest-{algorithm}", daemon=True
        )
        self._thread.start()

    def begin(self, key: Hashable) -> None:
        self._queue.put((_BEGIN, key, None))

    def feed(self, data: bytes | memoryview, done: Callable[[], None] | None = None) -> None:
        self._queue.put((_DATA, data, done))

    def end(self) -> None:
        self._queue.put((_END, None, None))

    def close(self) -> None:
        """Wait until everything queued is hashed; re-raise a worker failure."""
        self._queue.put((_STOP, None, None))
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        hasher = None
        key: Hashable = None
        while True:
            op, payload, done = self._queue.get()
            try:
                if op == _DATA:
                    if hasher is not None:
                        hasher.update(payload)  # type: ignore[arg-type]
                elif op == _BEGIN:
                    key = payload  # type: ignore[assignment]
                    hasher = hashlib.new(self.algorithm)
                elif op == _END:
                    if hasher is not None:
                        self.digests[key] = hasher.hexdigest()
                    hasher = None
                else:
                    return
            except BaseException as exc:  # surfaced by close(); keep draining
                self._error = self._error or exc
                hasher = None
            finally:
                if done is not None:
                    done()
