"""After a secret is found: number its lines, and stage redacted copies.

Only the rare build that finds a secret comes here, so only then is a file
read a second time: the build scans without counting lines (that would cost
as much as the scan itself), and the files holding secrets are read again
to number their findings, or to copy them with each secret's bytes replaced
by ``[REDACTED:<kind>]``. Either way the bytes read must hash to what the
build read, or the file changed in between and nothing is trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from opsledger.archiver.errors import SourceChangedError, SourceReadError
from opsledger.archiver.payload import scan_payload
from opsledger.archiver.secrets.scanner import (
    FileScan,
    SecretFinding,
    SecretScanError,
    Span,
    TreeScan,
)

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Redaction:
    path: str
    original_sha256: str
    redacted_sha256: str
    findings: tuple[SecretFinding, ...]


class _Numbering:
    """Counts lines up to each finding's offset, over blocks fed in order."""

    def __init__(self, findings: Sequence[SecretFinding]) -> None:
        self._todo = sorted(findings, key=lambda f: f.offset)
        self._done: list[SecretFinding] = []
        self._pos = 0
        self._newlines = 0

    def feed(self, block: bytes) -> None:
        end = self._pos + len(block)
        while self._todo and self._todo[0].offset < end:
            finding = self._todo.pop(0)
            line = self._newlines + block.count(b"\n", 0, finding.offset - self._pos) + 1
            self._done.append(dataclasses.replace(finding, line=line))
        self._newlines += block.count(b"\n")
        self._pos = end

    def findings(self) -> tuple[SecretFinding, ...]:
        return tuple(sorted(self._done + self._todo, key=lambda f: (f.line, f.offset)))


def _read_checked(path: Path, scan: FileScan, sink: Callable[[bytes], object]) -> str:
    """Feeds the file to ``sink`` block by block; returns its sha256, which
    must be the one the scan recorded."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                sha.update(block)
                sink(block)
    except OSError as exc:
        raise SourceReadError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if scan.sha256 and sha.hexdigest() != scan.sha256:
        raise SourceChangedError(scan.path, "changed after its secret scan")
    return sha.hexdigest()


def number_lines(source_dir: Path, scan: TreeScan) -> TreeScan:
    """The scan, with the lines of plain files' findings counted by reading
    those files again (compressed files' findings are numbered already)."""
    files = []
    for item in scan.files:
        if any(f.line == 0 for f in item.findings):
            numbering = _Numbering(item.findings)
            _read_checked(Path(source_dir) / item.path, item, numbering.feed)
            item = dataclasses.replace(item, findings=numbering.findings())
        files.append(item)
    return TreeScan(tuple(files))


def redact_stream(src: BinaryIO, dst: BinaryIO, spans: Sequence[Span], *,
                  observe: Callable[[bytes], object] | None = None) -> tuple[str, str]:
    """Copies ``src`` to ``dst`` with each span (absolute offsets, sorted,
    disjoint) replaced by ``[REDACTED:<kind>]``; ``observe`` sees each source
    block. Returns (sha256 of src, sha256 of what was written)."""
    original, redacted = hashlib.sha256(), hashlib.sha256()
    todo = sorted(spans)

    def out(data: bytes | memoryview) -> None:
        redacted.update(data)
        dst.write(data)

    pos = 0  # of the block's first byte
    skip_to = 0  # bytes before this offset are inside a span already replaced
    i = 0
    while block := src.read(_BLOCK):
        original.update(block)
        if observe is not None:
            observe(block)
        view = memoryview(block)
        end = pos + len(block)
        at = max(pos, skip_to)
        while at < end:
            if i < len(todo) and todo[i].start < end:
                span = todo[i]
                if at < span.start:
                    out(view[at - pos:span.start - pos])
                out(b"[REDACTED:" + span.kind.encode() + b"]")
                skip_to = max(skip_to, span.end)
                at = min(max(at, skip_to), end)
                i += 1
            else:
                out(view[at - pos:])
                at = end
        pos = end
    return original.hexdigest(), redacted.hexdigest()


def staging_dir(source_dir: Path) -> tempfile.TemporaryDirectory:
    """Beside the session folder, so unchanged files can be hard-linked."""
    source_dir = Path(source_dir)
    try:
        return tempfile.TemporaryDirectory(dir=source_dir.parent,
                                           prefix=f".{source_dir.name}.redacted-")
    except OSError:
        return tempfile.TemporaryDirectory(prefix=f"{source_dir.name}.redacted-")


def stage_redacted(source_dir: Path, scan: TreeScan, staging: Path) -> list[Redaction]:
    """Mirrors ``source_dir`` into the empty ``staging``: files with findings
    as redacted copies, their lines numbered on the way; the rest hard-linked
    (copied across file systems), mtimes kept so the bag's tar headers match
    the originals. The source is never written."""
    source_dir, staging = Path(source_dir), Path(staging)
    if any(staging.iterdir()):
        raise SecretScanError(f"staging folder {str(staging)!r} is not empty")
    plan = scan_payload(source_dir)
    scans = {s.path: s for s in scan.files}
    for rel, _ in plan.directories:
        (staging / rel).mkdir(parents=True, exist_ok=True)
    done: list[Redaction] = []
    for item in plan.files:
        target = staging / item.rel
        found = scans.get(item.rel)
        if found is not None and found.findings and not found.redactable:
            raise SecretScanError(f"{item.rel!r} is compressed; its secrets cannot be redacted")
        try:
            if found is None or not found.spans:
                try:
                    os.link(item.path, target)
                except OSError:
                    shutil.copy2(item.path, target)
                continue
            numbering = _Numbering(found.findings)
            with open(item.path, "rb") as src, open(target, "wb") as dst:
                before, after = redact_stream(src, dst, found.spans, observe=numbering.feed)
            shutil.copystat(item.path, target)
        except OSError as exc:
            raise SourceReadError(f"cannot stage {item.rel!r}: {exc.strerror or exc}") from None
        if found.sha256 and before != found.sha256:
            raise SourceChangedError(item.rel, "changed between the secret scan and redaction")
        done.append(Redaction(item.rel, before, after, numbering.findings()))
    for rel, _ in reversed(plan.directories):  # children first: adding entries moved mtimes
        shutil.copystat(source_dir / rel, staging / rel)
    return done
