"""Scanning payload files for secrets: plain or compressed, from any source.

``scan_chunks`` is the one entry point the bag build and the stand-alone
scan share: it looks at a file's first bytes, and either scans them as text
or reads through the compression (``secrets.unpack``), scanning every text
inside: the members of a tar or a zip, and compressed members of those, to
``MAX_DEPTH`` layers of compression or archive. What cannot be read through
for certain (a layer deeper than that, an encrypted zip member) is a finding
of kind ``unscannable``: the build refuses it rather than seal it unseen.
Names are scanned too: a payload file's path (``scan_name``) and every
member's name inside an archive; a secret in a name cannot be redacted.
Inside compressed files lines are always counted; in plain files only when
asked, since the build numbers the rare file with a finding afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from opsledger.archiver.errors import SourceReadError
from opsledger.archiver.payload import PayloadFile, scan_payload
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.scanner import (
    FileScan,
    SecretFinding,
    Span,
    TreeScan,
    scan_text,
    shown_name,
)
from opsledger.archiver.secrets.unpack import (
    SNIFF_BYTES,
    EncryptedMember,
    UnpackError,
    expansion_limit,
    sniff,
    texts,
)

# Layers of compression or archive read through: a .gz in a .tar in a .zip in
# a .zst is four. A fifth layer is not read: it is reported ``unscannable``.
MAX_DEPTH = 4
UNSCANNABLE = "unscannable"
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
    first = _head(rest)
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


def _head(chunks: Iterator) -> bytes | bytearray | memoryview | None:
    """The first chunk, made at least ``SNIFF_BYTES`` long if the data is."""
    first = next(chunks, None)
    if first is None or len(first) >= SNIFF_BYTES:
        return first
    parts = [bytes(first)]
    size = len(first)
    while size < SNIFF_BYTES and (more := next(chunks, None)) is not None:
        parts.append(bytes(more))
        size += len(more)
    return b"".join(parts)


def scan_name(path: str, *, member: str = "",
              engine: secret_hits.HitFinder | None = None) -> tuple[SecretFinding, ...]:
    """Findings in a file's name (a payload path, or a member's name inside
    an archive when ``member`` is given): ``in_name``, never redactable, and
    naming the file with the secret replaced (``shown_name``)."""
    raw = (member or path).encode("utf-8", "surrogateescape")
    scanner = scan_text(path, [raw], member=member, engine=engine)
    if not scanner.findings:
        return ()
    shown = shown_name(raw, scanner.spans)
    return tuple(dataclasses.replace(f, in_name=True, line=0, offset=-1,
                                     **({"member": shown} if member else {"path": shown}))
                 for f in scanner.findings)


def renamed(findings: Iterable[SecretFinding], named: tuple[SecretFinding, ...]
            ) -> tuple[SecretFinding, ...]:
    """A file's findings, all naming it as ``named`` (its name's findings) show it."""
    if not named:
        return tuple(findings)
    shown = named[0].path
    return named + tuple(dataclasses.replace(f, path=shown) for f in findings)


def _unscannable(path: str, member: str, why: str) -> SecretFinding:
    return SecretFinding(path, 0, UNSCANNABLE, why, member)


def _scan_packed(path: str, prefix: str, name: str, fmt: str, chunks: Iterator,
                 limit: int, engine: secret_hits.HitFinder | None, depth: int,
                 findings: list[SecretFinding], skipped: list[str]) -> None:
    try:
        for member, data in texts(name, fmt, chunks, limit=limit):
            label = prefix + member
            named = scan_name(path, member=label, engine=engine)
            if named:  # from here on the member is named without its secret
                findings.extend(named)
                label = named[0].member
            try:
                first = _head(data)
            except EncryptedMember:
                findings.append(_unscannable(path, label, "encrypted: cannot be read"))
                continue
            if first is None:
                continue
            inner = sniff(first)
            if inner is not None:
                if depth >= MAX_DEPTH:
                    findings.append(_unscannable(
                        path, label, f"{inner} nested more than {MAX_DEPTH} layers deep"))
                    for _ in data:
                        pass
                    continue
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
    named = scan_name(rel, engine=engine)
    if named:
        scanned = dataclasses.replace(scanned, findings=renamed(scanned.findings, named))
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
