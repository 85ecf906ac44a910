"""Secret scanning as a stage of the bag build: the chunks already read, scanned.

The payload reader hands this stage every chunk right after hashing it, and
the stage scans it there, in the reader's thread, while the chunk is still
in that core's cache; Hyperscan releases the GIL, so the scan overlaps the
writer feeding zstd. (A separate scanning thread was measured slower on the
two-core build host: the chunk crossed cores and threads handed off.)

A compressed file is the exception: its text is reached through a
decompressor and a tar walker that pull their input, so its chunks go to a
helper thread for that file, which releases each chunk once it is consumed.

Each file's name is scanned at its end (a key in a name cannot be
redacted, only refused). At the first finding ``found`` is set, and the writer stops compressing:
the build will be refused, but every file is still scanned so that the
refusal names every secret (and redaction knows every span).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator, Sequence

from opsledger.archiver.builder.reader import Chunk
from opsledger.archiver.payload import PayloadPlan
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.files import Scanned, renamed, scan_chunks, scan_name
from opsledger.archiver.secrets.scanner import FileScanner, TreeScan
from opsledger.archiver.secrets.unpack import SNIFF_BYTES, sniff

_END = None


class _Closed(Exception):
    """The build ended (or failed) while a compressed file was being scanned."""


class _PackedScan:
    """A helper thread scanning one compressed file from the chunks it is given."""

    def __init__(self, rel: str, size: int, engine: secret_hits.HitFinder) -> None:
        self._queue: queue.SimpleQueue[Chunk | None | _Closed] = queue.SimpleQueue()
        self._rel, self._size, self._engine = rel, size, engine
        self.result: Scanned | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="secret-scan-packed",
                                        daemon=True)
        self._thread.start()

    def put(self, chunk: Chunk) -> None:
        self._queue.put(chunk)

    def finish(self, closed: bool = False) -> None:
        """The file is complete (or the build stopped): wait for the scan."""
        self._queue.put(_Closed() if closed else _END)
        self._thread.join()

    def _run(self) -> None:
        chunks = self._chunks()
        try:
            self.result = scan_chunks(self._rel, chunks, size=self._size, engine=self._engine)
        except _Closed:
            return
        except BaseException as exc:  # raised by the reader at the file's end
            self.error = exc
        try:
            for _ in chunks:  # release what the scan did not need
                pass
        except _Closed:
            pass

    def _chunks(self) -> Iterator[memoryview]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Closed):
                raise item
            try:
                yield item.view
            finally:
                item.done()


class SecretScanStage:
    """The payload reader's tap (``payload.ChunkTap``) that scans for secrets."""

    def __init__(self, plan: PayloadPlan, *, engine: secret_hits.HitFinder | None = None) -> None:
        self._plan = plan
        self._engine = engine or secret_hits.finder()  # compiled once per process
        self._results: list[Scanned | None] = [None] * len(plan.files)
        self._plain: FileScanner | None = None
        self._packed: _PackedScan | None = None
        self._index = -1
        self.found = threading.Event()

    def begin(self, index: int) -> None:
        self._index = index
        self._plain = self._packed = None

    def data(self, chunk: Chunk) -> None:
        if self._plain is None and self._packed is None:
            item = self._plan.files[self._index]
            if sniff(chunk.view[:SNIFF_BYTES]) is None:
                self._plain = FileScanner(item.rel, count_lines=False, engine=self._engine)
            else:
                self._packed = _PackedScan(item.rel, item.size, self._engine)
        if self._packed is not None:
            self._packed.put(chunk)  # the helper calls done()
            return
        try:
            self._plain.feed(chunk.view)  # type: ignore[union-attr]
        finally:
            chunk.done()
        if self._plain.findings:  # type: ignore[union-attr]
            self.found.set()

    def end(self, index: int) -> None:
        if self._packed is not None:
            packed, self._packed = self._packed, None
            packed.finish()
            if packed.error is not None:
                raise packed.error
            scanned = packed.result
        elif self._plain is not None:
            findings, spans = self._plain.finish()
            scanned = Scanned(tuple(findings), spans)
            self._plain = None
        else:  # an empty file
            scanned = Scanned()
        named = scan_name(self._plan.files[index].rel, engine=self._engine)
        if named:  # a key in a file's name is sealed as surely as one inside it
            scanned = scanned or Scanned()
            scanned = dataclasses.replace(scanned, findings=renamed(scanned.findings, named))
        self._results[index] = scanned
        if scanned is not None and scanned.findings:
            self.found.set()

    def close(self) -> None:
        """The build is over: a helper still waiting for chunks is stopped."""
        if self._packed is not None:
            self._packed.finish(closed=True)
            self._packed = None

    def result(self, sha256: Sequence[str]) -> TreeScan:
        """Every file's scan, once the reader is done; ``sha256`` are the
        files' digests, computed by the reader."""
        files = self._plan.files
        return TreeScan(tuple(
            (scanned or Scanned()).file_scan(f.rel, f.size, sha256[i])
            for i, (f, scanned) in enumerate(zip(files, self._results, strict=True))
        ))
