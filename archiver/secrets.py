"""Secret scanning stage: no credential goes into WORM storage.

A sealed archive can never be altered or deleted before its retention ends,
so a leaked key inside it could not be purged either. Before the bag is
built every payload file is read once, streaming, and searched for
credentials. A hit refuses the seal; with redaction the bag is built from a
staging copy in which each secret's bytes are replaced by
``[REDACTED:<kind>]``, and the caller records the alteration (original and
redacted sha256, kinds, lines) on the ticket.

Bounded memory: files are read in blocks cut at line ends; a line longer
than ``max_line`` is scanned in pieces that overlap by ``_OVERLAP`` bytes, so
a token crossing a cut is still found. Blocks in which no trigger word
occurs are skipped after counting their lines, which is what keeps the scan
fast on large, clean logs.

Findings never carry the secret: only its first four characters and length.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import ArchiverError, SourceChangedError, SourceReadError
from .payload import PayloadFile, scan_payload

DEFAULT_MAX_LINE = 1 << 20
_BLOCK = 1 << 20
_OVERLAP = 8 << 10  # longer than any single token the rules match
_KEY_BLOCK_MAX_LINES = 1000  # an unterminated key block stops being one after this

# Compressed payloads hold no readable text; redacting their bytes would corrupt them.
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PK\x03\x04", b"BZh", b"\xfd7zXZ\x00")

ENTROPY_THRESHOLD = 3.0  # bits per character; base64/random secrets sit well above
MIN_ASSIGNED_LENGTH = 10

# Every rule's match contains one of these (lower-cased); a line with none is
# skipped without running the rules, found by bytes.find at memory speed.
_ANCHORS = (b"akia", b"asia", b"key", b"sig=", b"bearer", b"eyj", b"://", b"secret", b"token",
            b"passw", b"pwd", b"credential")


def _has_anchor(text: bytes) -> bool:
    low = text.lower()
    return any(word in low for word in _ANCHORS)


def _candidate_runs(block: bytes) -> list[tuple[int, int]]:
    """(start, end) of runs of whole lines holding an anchor, in order."""
    low = block.lower()
    lines: set[tuple[int, int]] = set()
    for word in _ANCHORS:
        at = low.find(word)
        while at != -1:
            start = block.rfind(b"\n", 0, at) + 1
            end = block.find(b"\n", at) + 1 or len(block)
            lines.add((start, end))
            at = low.find(word, end)
    runs: list[tuple[int, int]] = []
    for start, end in sorted(lines):
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs

# (kind, pattern, group holding the secret), in priority order: a later rule's
# hit that overlaps an earlier one on the same line is not reported twice.
_RULES: tuple[tuple[str, re.Pattern[bytes], int], ...] = (
    ("gcp-service-account-key",
     re.compile(rb'"private_key"[ \t]*:[ \t]*"(-----BEGIN[^"\n]{0,16384}?)"'), 1),
    ("private-key",
     re.compile(rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----.*?"
                rb"-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----"), 0),
    ("aws-access-key", re.compile(rb"(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])"), 1),
    ("azure-storage-key",
     re.compile(rb"(?i)\b(?:AccountKey|SharedAccessKey)[ \t]*=[ \t]*([A-Za-z0-9+/]{20,}={0,2})"), 1),
    ("azure-sas-token", re.compile(rb"[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3D|=){0,2})"), 1),
    ("bearer-token",
     re.compile(rb"(?i)\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?bearer[ \t]+([A-Za-z0-9._~+/-]{8,}=*)"), 1),
    ("jwt", re.compile(rb"\b(eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)"), 1),
    ("url-password",
     re.compile(rb"\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@\"'<>]{1,256}:([^\s@/\"'<>]{1,256})@"
                rb"[A-Za-z0-9\[]"), 1),
    ("high-entropy-assignment",
     re.compile(rb"(?i)(?:secret|token|passwd|password|pwd|api[_-]?key"
                rb"|access[_-]?key|auth[_-]?key|credentials?)[A-Za-z0-9_.-]{0,64}[\"']?[ \t]*"
                rb"(?::=|=>|:|=)[ \t]*[\"']?([A-Za-z0-9+/=_.~:-]{10,512})"), 1),
)
_KEY_BEGIN = re.compile(rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(rb"-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----")

_DIGEST_HEX = re.compile(rb"(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})")
_DIGEST_PREFIX = re.compile(rb"(?i)(?:sha1|sha256|sha384|sha512|md5):")
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(rb"(?:[*xX.]+|\$.*|<.*|\{.*|%s|changeme|redacted|REDACTED.*)")


class SecretScanError(ArchiverError):
    """Scanning or redacting a payload file failed (bad arguments)."""


class SecretsFoundError(ArchiverError):
    """Payload files hold credentials; nothing was sealed."""

    def __init__(self, findings: list[SecretFinding]) -> None:
        shown = "; ".join(str(f) for f in findings[:20])
        more = f"; and {len(findings) - 20} more" if len(findings) > 20 else ""
        super().__init__(
            f"{len(findings)} secret(s) in the payload, nothing sealed "
            f"(rerun with --redact to archive redacted copies): {shown}{more}"
        )
        self.findings = list(findings)


@dataclass(frozen=True)
class SecretFinding:
    path: str  # relative to the session folder
    line: int  # 1-based
    kind: str
    fingerprint: str  # first four characters and the length, never the secret

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} ({self.fingerprint})"


@dataclass(frozen=True)
class Span:
    """Bytes to redact: ``[start, end)`` within line ``line`` (0-based offsets)."""

    line: int
    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class FileScan:
    path: str
    size: int
    sha256: str
    findings: tuple[SecretFinding, ...] = ()
    spans: tuple[Span, ...] = ()
    skipped: str = ""  # why the file was not scanned (compressed), else ""


@dataclass(frozen=True)
class TreeScan:
    files: tuple[FileScan, ...]

    @property
    def findings(self) -> list[SecretFinding]:
        return [f for s in self.files for f in s.findings]

    @property
    def bytes_scanned(self) -> int:
        return sum(s.size for s in self.files if not s.skipped)


@dataclass(frozen=True)
class Redaction:
    path: str
    original_sha256: str
    redacted_sha256: str
    findings: tuple[SecretFinding, ...]


@dataclass
class _LineState:
    spans: list[Span] = field(default_factory=list)
    findings: list[SecretFinding] = field(default_factory=list)
    key_start: int | None = None  # line where an open private key block began
    key_body: int = 0


def fingerprint(secret: bytes) -> str:
    """First four characters and the length; a key block's header is skipped,
    since every key starts with the same one."""
    header = _KEY_BEGIN.match(secret)
    material = secret[header.end():].removeprefix(b"\\n").lstrip() if header else secret
    head = material[:4].decode("ascii", "replace")
    return f"{head}…({len(secret)} chars)"


def shannon_entropy(value: bytes) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _is_assigned_secret(value: bytes) -> bool:
    """Whether a value assigned to a secret-sounding name looks like a credential;
    digests (pure hex of 40/64/128, ``sha256:...``) and UUIDs are everywhere in
    our logs and are not."""
    value = value.strip(b"\"'")
    if len(value) < MIN_ASSIGNED_LENGTH or _PLACEHOLDER.fullmatch(value):
        return False
    if _DIGEST_HEX.fullmatch(value) or _DIGEST_PREFIX.match(value) or _UUID.fullmatch(value):
        return False
    has_letter = any(65 <= b <= 90 or 97 <= b <= 122 for b in value)
    has_digit = any(48 <= b <= 57 for b in value)
    return has_letter and has_digit and shannon_entropy(value) >= ENTROPY_THRESHOLD


def _accept(kind: str, secret: bytes) -> bool:
    if kind == "high-entropy-assignment":
        return _is_assigned_secret(secret)
    if kind == "url-password":
        return not _PLACEHOLDER.fullmatch(secret)
    return True


def _pieces(stream: BinaryIO, max_line: int) -> Iterator[tuple[bytes, bool]]:
    """(block, ends_at_line_end): blocks of whole lines, except that a line
    longer than ``max_line`` comes as several blocks, all but the last False."""
    carry = b""
    while True:
        data = stream.read(_BLOCK)
        if not data:
            if carry:
                yield carry, True
            return
        data = carry + data
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut], True
            carry = data[cut:]
        else:
            carry = data
        while len(carry) > max_line:
            yield carry[:max_line], False
            carry = carry[max_line:]


def _scan_line(rel: str, number: int, base: int, text: bytes, new_from: int,
               state: _LineState) -> None:
    """Finds secrets in ``text`` (bytes of line ``number`` from offset ``base``);
    hits ending before ``new_from`` were seen in the previous piece."""
    if state.key_start is not None:
        end = _KEY_END.search(text)
        stop = end.end() if end else len(text.rstrip(b"\r\n"))
        state.spans.append(Span(number, base, base + stop, "private-key"))
        state.key_body += 1
        if end or state.key_body >= _KEY_BLOCK_MAX_LINES:
            state.key_start = None
        if not end:
            return
        text_from = stop
    else:
        text_from = 0
    if not _has_anchor(text[text_from:]):
        return
    line_spans = [s for s in state.spans if s.line == number]
    for kind, pattern, group in _RULES:
        for match in pattern.finditer(text, text_from):
            start, end = match.span(group)
            if end <= new_from:
                continue
            if not _accept(kind, match.group(group)):
                continue
            a, b = base + start, base + end
            clash = next((s for s in line_spans if s.start < b and a < s.end), None)
            if clash is not None:
                if clash.kind == kind and b > clash.end:  # the same token, cut by a piece end
                    grown = Span(number, clash.start, b, kind)
                    state.spans[state.spans.index(clash)] = grown
                    line_spans[line_spans.index(clash)] = grown
                continue
            span = Span(number, a, b, kind)
            state.spans.append(span)
            line_spans.append(span)
            state.findings.append(SecretFinding(rel, number, kind, fingerprint(match.group(group))))
    begin = None
    for found in _KEY_BEGIN.finditer(text, text_from):
        begin = found  # only the last one can still be open at the line's end
    if begin is not None and not any(s.start <= base + begin.start() < s.end for s in line_spans):
        # a key block opens here and continues on the next lines
        state.spans.append(Span(number, base + begin.start(),
                                base + len(text.rstrip(b"\r\n")), "private-key"))
        state.findings.append(SecretFinding(rel, number, "private-key",
                                            fingerprint(text[begin.start():].strip())))
        state.key_start, state.key_body = number, 0


def _scan_block(rel: str, first_line: int, block: bytes, state: _LineState) -> None:
    """Whole lines at once: no rule matches across a line end, so each runs
    over the block and hits are mapped to lines afterwards (far faster than
    running every rule on every line)."""
    hits: list[tuple[int, int, int, str, bytes]] = []
    for run_start, run_end in _candidate_runs(block):
        for priority, (kind, pattern, group) in enumerate(_RULES):
            for match in pattern.finditer(block, run_start, run_end):
                secret = match.group(group)
                if _accept(kind, secret):
                    hits.append((priority, *match.span(group), kind, secret))
    kept: list[tuple[int, int, str, bytes]] = []
    for _, start, end, kind, secret in sorted(hits):
        if not any(k[0] < end and start < k[1] for k in kept):
            kept.append((start, end, kind, secret))
    line, line_start, pos = first_line, 0, 0
    for start, end, kind, secret in sorted(kept):
        newlines = block.count(b"\n", pos, start)
        if newlines:
            line += newlines
            line_start = block.rfind(b"\n", pos, start) + 1
        pos = start
        state.spans.append(Span(line, start - line_start, end - line_start, kind))
        state.findings.append(SecretFinding(rel, line, kind, fingerprint(secret)))


def scan_stream(stream: BinaryIO, rel: str, *, max_line: int = DEFAULT_MAX_LINE,
                progress: Callable[[int], object] | None = None) -> FileScan:
    """Scans one file's bytes; returns its findings, redaction spans and sha256."""
    if max_line < 2 * _OVERLAP:
        raise SecretScanError(f"max_line must be at least {2 * _OVERLAP} bytes")
    state = _LineState()
    sha = hashlib.sha256()
    size = 0
    line = 1
    offset = 0  # of the next piece within the current line
    tail = b""  # the end of the previous piece of an overlong line
    for block, whole in _pieces(stream, max_line):
        sha.update(block)
        size += len(block)
        if progress is not None:
            progress(len(block))
        if not whole:  # a piece of an overlong line
            text = tail + block
            _scan_line(rel, line, offset - len(tail), text, len(tail), state)
            offset += len(block)
            tail = text[-_OVERLAP:]
            continue
        if tail:  # the overlong line ends in this block
            stop = block.find(b"\n") + 1 or len(block)
            _scan_line(rel, line, offset - len(tail), tail + block[:stop], len(tail), state)
            line, offset, tail = line + 1, 0, b""
            block = block[stop:]
        if state.key_start is None and not _KEY_BEGIN.search(block):
            _scan_block(rel, line, block, state)
            line += block.count(b"\n")
            continue
        start = 0  # a key block may span lines: follow it line by line
        while start < len(block):
            stop = block.find(b"\n", start) + 1 or len(block)
            _scan_line(rel, line, 0, block[start:stop], 0, state)
            line += 1
            start = stop
    return FileScan(rel, size, sha.hexdigest(), tuple(state.findings), tuple(state.spans))


def _is_compressed(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise SourceReadError(f"cannot open {path!r}: {exc.strerror or exc}") from None
    return any(head.startswith(m) for m in _COMPRESSED_MAGIC)


def scan_file(item: PayloadFile, *, max_line: int = DEFAULT_MAX_LINE,
              progress: Callable[[int], object] | None = None) -> FileScan:
    if _is_compressed(item.path):
        return FileScan(item.rel, item.size, "", skipped="compressed")
    try:
        with open(item.path, "rb") as f:
            return scan_stream(f, item.rel, max_line=max_line, progress=progress)
    except OSError as exc:
        raise SourceReadError(f"cannot read {item.path!r}: {exc.strerror or exc}") from None


def scan_tree(source_dir: Path, *, max_line: int = DEFAULT_MAX_LINE,
              progress: Callable[[int, int], object] | None = None) -> TreeScan:
    """Scans every payload file of a session folder; ``progress(done, total)`` in bytes."""
    plan = scan_payload(Path(source_dir))
    total, done = plan.total_bytes, 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    return TreeScan(tuple(scan_file(f, max_line=max_line, progress=step) for f in plan.files))


def redact_stream(src: BinaryIO, dst: BinaryIO, spans: tuple[Span, ...], *,
                  max_line: int = DEFAULT_MAX_LINE) -> tuple[str, str]:
    """Copies ``src`` to ``dst`` with each span replaced by ``[REDACTED:<kind>]``.
    Returns (sha256 of src, sha256 of what was written)."""
    by_line: dict[int, list[Span]] = {}
    for s in spans:
        by_line.setdefault(s.line, []).append(s)
    for group in by_line.values():
        group.sort(key=lambda s: s.start)
    original, redacted = hashlib.sha256(), hashlib.sha256()

    def out(data: bytes) -> None:
        redacted.update(data)
        dst.write(data)

    line, offset = 1, 0
    for block, whole in _pieces(src, max_line):
        original.update(block)
        start = 0
        while start < len(block):
            stop = block.find(b"\n", start) + 1 or len(block)
            piece = block[start:stop]
            a, b = offset, offset + len(piece)
            cursor = 0
            for s in by_line.get(line, ()):
                if s.end <= a or s.start >= b:
                    continue
                if s.start >= a:
                    out(piece[cursor:s.start - a])
                    out(b"[REDACTED:" + s.kind.encode() + b"]")
                cursor = max(cursor, min(s.end, b) - a)
            out(piece[cursor:])
            if piece.endswith(b"\n") or (whole and stop == len(block)):
                line, offset = line + 1, 0
            else:
                offset = b
            start = stop
    return original.hexdigest(), redacted.hexdigest()


def stage_redacted(source_dir: Path, scan: TreeScan, staging_dir: Path) -> list[Redaction]:
    """Mirrors ``source_dir`` into the empty ``staging_dir``: files with findings
    as redacted copies, the rest hard-linked (copied across file systems), mtimes
    kept so the bag's tar headers match the originals. The source is never written."""
    source_dir, staging_dir = Path(source_dir), Path(staging_dir)
    if any(staging_dir.iterdir()):
        raise SecretScanError(f"staging folder {str(staging_dir)!r} is not empty")
    plan = scan_payload(source_dir)
    scans = {s.path: s for s in scan.files}
    for rel, _ in plan.directories:
        (staging_dir / rel).mkdir(parents=True, exist_ok=True)
    done: list[Redaction] = []
    for item in plan.files:
        target = staging_dir / item.rel
        found = scans.get(item.rel)
        try:
            if found is None or not found.spans:
                try:
                    os.link(item.path, target)
                except OSError:
                    shutil.copy2(item.path, target)
                continue
            with open(item.path, "rb") as src, open(target, "wb") as dst:
                before, after = redact_stream(src, dst, found.spans)
            shutil.copystat(item.path, target)
        except OSError as exc:
            raise SourceReadError(f"cannot stage {item.rel!r}: {exc.strerror or exc}") from None
        if before != found.sha256:
            raise SourceChangedError(item.rel, "changed between the secret scan and redaction")
        done.append(Redaction(item.rel, before, after, found.findings))
    for rel, _ in reversed(plan.directories):  # children first: adding entries moved mtimes
        shutil.copystat(source_dir / rel, staging_dir / rel)
    return done
