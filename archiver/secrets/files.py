"""Scanning payload files for secrets: plain or compressed, from any source.

``scan_chunks`` is the one entry point the bag build and the stand-alone
scan share: it looks at a file's first bytes, and either scans them as text
or reads through the compression (``secrets.unpack``), scanning every text
inside, a compressed member of a compressed tar included (``MAX_DEPTH``).
Inside compressed files lines are always counted; in plain files only when
asked, since the build numbers the rare file with a finding afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from opsledger.archiver.errors import SourceReadError
from opsledger.archiver.payload import PayloadFile, scan_payload
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.scanner import FileScan, SecretFinding, Span, TreeScan, scan_text
from opsledger.archiver.secrets.unpack import UnpackError, expansion_limit, sniff, texts

MAX_DEPTH = 2  # a compressed file inside a compressed tar is read; deeper is not
_BLOCK = 1 << 20

Chunks = Iterable[bytes | bytearray | memoryview]


@dataclass(frozen=True)
class Scanned:
    findings: tuple[SecretFinding, ...] = ()
    spans: tuple[Span, ...] = ()
    compressed: str = ""
    skipped: str = ""

    def file_scan(self, path: str, size: int, sha256: str) -> FileScan:
        return FileScan(path, size, sha256, self.findings, self.spans, self.skipped,
                        self.compressed)


def scan_chunks(path: str, chunks: Chunks, *, size: int = 0, count_lines: bool = False,
                engine: secret_hits.HitFinder | None = None) -> Scanned:
    """Scans one file's bytes. It may stop reading ``chunks`` early (a
    compressed file it cannot read through): the caller drains the rest."""
    rest = iter(chunks)
    first = next(rest, None)
    if first is None:
        return Scanned()
    fmt = sniff(first)
    if fmt is None:
        scanner = scan_text(path, chain([first], rest), count_lines=count_lines, engine=engine)
        return Scanned(tuple(scanner.findings), scanner.spans)
    findings: list[SecretFinding] = []
    skipped: list[str] = []
    _scan_packed(path, "", path, fmt, chain([first], rest), expansion_limit(size), engine,
                 1, findings, skipped)
    return Scanned(tuple(findings), (), fmt, "; ".join(skipped))


def _scan_packed(path: str, prefix: str, name: str, fmt: str, chunks: Iterator,
                 limit: int, engine: secret_hits.HitFinder | None, depth: int,
                 findings: list[SecretFinding], skipped: list[str]) -> None:
    try:
        for member, data in texts(name, fmt, chunks, limit=limit):
            label = prefix + member
            first = next(data, None)
            if first is None:
                continue
            inner = sniff(first)
            if inner is not None and depth < MAX_DEPTH:
                _scan_packed(path, label + "/", member, inner, chain([first], data), limit,
                             engine, depth + 1, findings, skipped)
                continue
            scanner = scan_text(path, chain([first], data), member=label, engine=engine)
            findings.extend(scanner.findings)
    except UnpackError as exc:
        skipped.append(f"{prefix}{exc}" if prefix else str(exc))


def scan_stream(stream: BinaryIO, rel: str, *, size: int = 0,
                engine: secret_hits.HitFinder | None = None,
                progress: Callable[[int], object] | None = None) -> FileScan:
    """Scans one file's bytes from a stream, lines numbered; also its sha256."""
    sha = hashlib.sha256()
    total = 0

    def blocks() -> Iterator[bytes]:
        nonlocal total
        while data := stream.read(_BLOCK):
            sha.update(data)
            total += len(data)
            if progress is not None:
                progress(len(data))
            yield data

    source = blocks()
    scanned = scan_chunks(rel, source, size=size, count_lines=True, engine=engine)
    for _ in source:  # what a compressed file's scan left unread, for the hash
        pass
    return scanned.file_scan(rel, total, sha.hexdigest())


def scan_file(item: PayloadFile, *, engine: secret_hits.HitFinder | None = None,
              progress: Callable[[int], object] | None = None) -> FileScan:
    try:
        with open(item.path, "rb") as f:
            return scan_stream(f, item.rel, size=item.size, engine=engine, progress=progress)
    except OSError as exc:
        raise SourceReadError(f"cannot read {item.path!r}: {exc.strerror or exc}") from None


def scan_tree(source_dir: Path, *, engine: secret_hits.HitFinder | None = None,
              progress: Callable[[int, int], object] | None = None) -> TreeScan:
    """Scans every payload file of a session folder on its own (the bag build
    scans as it reads instead); ``progress(done, total)`` in bytes."""
    plan = scan_payload(Path(source_dir))
    total, done = plan.total_bytes, 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    return TreeScan(tuple(scan_file(f, engine=engine, progress=step) for f in plan.files))
