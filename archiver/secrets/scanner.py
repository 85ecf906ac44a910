"""Secret scanning stage: no credential goes into WORM storage.

A sealed archive can never be altered or deleted before its retention ends,
so a leaked key inside it could not be purged either. The bag build hands
every chunk it reads to a ``FileScanner`` (see ``builder.secret_stage``), so the
payload is read once for hashing, compressing and scanning alike; a hit
aborts the build before anything is published.

A scanner is fed a file's bytes in chunks of any size. A multi-pattern
engine (``secrets.hits``) finds where a rule's trigger ends; only there, in a
window cut at line ends, does that rule (of ``secrets.rules``) run. Memory
stays bounded whatever the line lengths: the scanner keeps the end of the
current line (``MAX_TRIGGER`` bytes) and, while a trigger's line has not
ended, at most ``MAX_MATCH`` bytes after it.

Findings never carry the secret, nor any of its characters: only its kind,
where it is and a keyed fingerprint (``rules.fingerprint``).
Spans (what redaction replaces) are absolute byte offsets in the file.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from opsledger.archiver.errors import ArchiverError
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.rules import (
    KEY_BEGIN,
    KEY_BLOCK_MAX_LINES,
    KEY_END,
    MAX_MATCH,
    MAX_TRIGGER,
    PRIVATE_KEY,
    RULES,
    UNREDACTABLE,
    accept,
    fingerprint,
)


class SecretScanError(ArchiverError):
    """Scanning or redacting a payload file failed (bad arguments)."""


class SecretsFoundError(ArchiverError):
    """Payload files hold credentials; nothing was sealed. ``scan`` is the
    whole payload's scan (spans included) when the build produced one."""

    def __init__(self, findings: list[SecretFinding], scan: TreeScan | None = None) -> None:
        shown = "; ".join(str(f) for f in findings[:20])
        more = f"; and {len(findings) - 20} more" if len(findings) > 20 else ""
        super().__init__(
            f"{len(findings)} secret(s) in the payload, nothing sealed "
            f"({_advice(findings)}): {shown}{more}"
        )
        self.findings = list(findings)
        self.scan = scan


class SecretsNotRedactableError(SecretsFoundError):
    """Secrets inside compressed payload files, which cannot be redacted byte for byte."""


def _advice(findings: list[SecretFinding]) -> str:
    packed = sorted({f.path for f in findings
                     if f.member or f.in_name or f.kind in UNREDACTABLE})
    if not packed:
        return "rerun with --redact to archive redacted copies"
    return (f"{', '.join(packed)}: compressed, encoded or in a file name, so --redact cannot "
            "replace the secret's bytes; re-create the file without the secret by hand, "
            "then rerun")


@dataclass(frozen=True)
class SecretFinding:
    path: str  # relative to the session folder
    line: int  # 1-based; 0 until numbered (the build scans without counting lines)
    kind: str
    fingerprint: str  # a keyed digest (rules.fingerprint): no character of the secret
    member: str = ""  # inside a compressed file: the member (or decompressed file) name
    offset: int = field(default=-1, compare=False)  # of the secret, in the file or member
    in_name: bool = False  # the secret is in the file's (or member's) name, not its bytes

    def __str__(self) -> str:
        where = f"{self.path}[{self.member}]" if self.member else self.path
        if self.in_name:
            at = f"{where} (its name)"
        elif self.line:
            at = f"{where}:{self.line}"
        elif self.offset >= 0:
            at = f"{where} (byte {self.offset})"
        else:
            at = where
        return f"{at}: {self.kind} ({self.fingerprint})"


@dataclass(frozen=True, order=True)
class Span:
    """Bytes to redact: ``[start, end)`` of the file; never across a line end."""

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
    skipped: str = ""  # why (part of) the file could not be scanned, else ""
    compressed: str = ""  # "gzip", "zstd"...: findings are inside, spans are empty

    @property
    def redactable(self) -> bool:
        """Whether --redact can replace every finding's bytes in place."""
        return not self.compressed and not any(
            f.kind in UNREDACTABLE or f.in_name for f in self.findings)


@dataclass(frozen=True)
class TreeScan:
    files: tuple[FileScan, ...]

    @property
    def findings(self) -> list[SecretFinding]:
        return [f for s in self.files for f in s.findings]

    @property
    def skipped(self) -> list[FileScan]:
        return [s for s in self.files if s.skipped]


class FileScanner:
    """Finds the secrets in one stream of bytes, fed in order by ``feed``.

    With ``count_lines`` off (the bag build) findings have line 0 and their
    offset: counting newlines costs as much as finding the triggers, and the
    rare file with a finding is numbered afterwards (``redact.number_lines``).
    """

    def __init__(self, path: str, *, member: str = "", count_lines: bool = True,
                 engine: secret_hits.HitFinder | None = None) -> None:
        self.path = path
        self.member = member
        self._finder = engine or secret_hits.finder()
        self._count = count_lines
        self._hits: list[tuple[int, int]] = []  # (end, rule) of triggers not judged yet
        self._text = b""  # the bytes [_base, _pos) still needed
        self._base = 0
        self._pos = 0
        self._newlines = 0  # in [0, _pos), when counting
        self._memo = (0, 0)  # (offset, newlines before it), for numbering findings
        self._cursor = 0  # bytes before it are judged
        self._key_lines = -1  # lines followed so far inside an open private key block
        self._spans: list[Span] = []  # sorted by start
        self.findings: list[SecretFinding] = []

    @property
    def size(self) -> int:
        return self._pos

    @property
    def spans(self) -> tuple[Span, ...]:
        return tuple(self._spans)

    @property
    def retained_bytes(self) -> int:
        """Bytes held between feeds: bounded whatever the line lengths."""
        return len(self._text)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n:
            return
        if self._count and isinstance(data, memoryview):
            data = bytes(data)
        pos, hits = self._pos, self._hits
        self._finder.find(data, pos, hits)
        if self._text:  # a trigger may straddle the seam; triggers never cross a line end
            seam_from = max(0, len(self._text) - self._finder.overlap)
            seam = self._text[seam_from:] + bytes(data[:self._finder.overlap])
            found: list[tuple[int, int]] = []
            self._finder.find(seam, self._base + seam_from, found)
            hits.extend(hit for hit in found if hit[0] > pos)
        if self._count:
            self._newlines += data.count(b"\n")
        self._pos = pos + n
        if not hits and self._key_lines < 0:
            # The common case: keep only the end of the current line.
            tail = bytes(data[-MAX_TRIGGER:])
            cut = tail.rfind(b"\n")
            text = tail[cut + 1:] if cut >= 0 else (self._text + tail)[-MAX_TRIGGER:]
            self._text, self._base = text, self._pos - len(text)
            return
        self._text = b"".join((self._text, data))
        self._judge(final=False)
        self._trim()

    def finish(self) -> tuple[list[SecretFinding], tuple[Span, ...]]:
        self._judge(final=True)
        self._text, self._hits = b"", []
        return self.findings, self.spans

    # Judging ---------------------------------------------------------------

    def _judge(self, final: bool) -> None:
        hits = self._hits = sorted(set(self._hits))
        i = 0
        while True:
            if self._key_lines >= 0:
                if not self._follow_key(final):
                    break
                continue
            while i < len(hits) and hits[i][0] <= self._cursor:
                i += 1
            if i == len(hits):
                break
            start = self._window_start(hits[i][0])
            stop = self._window_stop(hits[i][0], final)
            # Triggers on the same or the next lines are judged in one run:
            # a log where every line holds one costs a few regex passes per
            # run, not per line.
            j = i + 1
            while stop is not None and j < len(hits) and stop - start < 2 * MAX_MATCH:
                next_start = self._window_start(hits[j][0])
                if next_start > stop:
                    break
                more = self._window_stop(hits[j][0], final)
                if more is None:
                    if next_start < stop:
                        stop = None  # it shares a line with the run: wait for that line
                    break
                stop = max(stop, more)
                j += 1
            if stop is None:
                break  # a trigger's line has not ended yet
            self._judge_window(start, stop, {rule for _, rule in hits[i:j]})
        del hits[:i]

    def _window_start(self, end: int) -> int:
        rel = end - self._base
        line = self._text.rfind(b"\n", max(0, rel - MAX_TRIGGER), rel) + 1
        return max(self._base + line, end - MAX_TRIGGER)

    def _window_stop(self, end: int, final: bool) -> int | None:
        rel = end - self._base
        limit = min(rel + MAX_MATCH, len(self._text))
        nl = self._text.find(b"\n", rel, limit)
        if nl >= 0:
            return self._base + nl + 1
        if final or rel + MAX_MATCH <= len(self._text):
            return self._base + limit
        return None

    def _judge_window(self, start: int, stop: int, rules: set[int]) -> None:
        """Runs the rules whose triggers fired (all, for ``ANY_RULE``) over
        ``[start, stop)``, whole lines unless a line is too long to keep."""
        text, base = self._text, self._base
        a, b = start - base, stop - base
        every = secret_hits.ANY_RULE in rules
        hits: list[tuple[int, int, int, str, bytes]] = []
        for priority, (kind, pattern, group) in enumerate(RULES):
            if not every and priority not in rules:
                continue
            for match in pattern.finditer(text, a, b):
                secret = match.group(group)
                if accept(kind, secret, match):
                    hits.append((priority, base + match.start(group), base + match.end(group),
                                 kind, secret))
        kept: list[tuple[int, int, str, bytes]] = []
        for _, s, e, kind, secret in sorted(hits):
            if not any(k[0] < e and s < k[1] for k in kept):
                kept.append((s, e, kind, secret))
        kept.sort()
        self._cursor = max(self._cursor, stop)
        begins = KEY_BEGIN.finditer(text, a, b) if every or PRIVATE_KEY in rules else ()
        for begin in begins:
            at = base + begin.start()
            if any(s <= at < e for s, e, *_ in kept) or self._clash(at, at + 1) is not None:
                continue  # a whole key on one line, already a finding
            # A key block opens here and continues on the next lines; what
            # follows it on its line is part of it.
            kept = [k for k in kept if k[0] < at]
            nl = text.find(b"\n", begin.start(), b)
            line_end = nl if nl >= 0 else b
            block = text[begin.start():line_end].rstrip(b"\r")
            kept.append((at, at + len(block), "private-key", block.strip()))
            self._cursor = base + (nl + 1 if nl >= 0 else b)
            self._key_lines = 0
            break
        for s, e, kind, secret in kept:
            self._record(s, e, kind, fingerprint(secret))

    def _follow_key(self, final: bool) -> bool:
        """Redacts the next line of an open key block, ending the block at its
        END marker; False when the data fed so far ends inside the line."""
        text, base = self._text, self._base
        rel = self._cursor - base
        nl = text.find(b"\n", rel)
        piece = False
        if nl >= 0:
            line_end, next_line = nl, nl + 1
        elif final:
            line_end = next_line = len(text)
        elif len(text) - rel > MAX_MATCH:  # an overlong line inside a block: take a piece
            line_end = next_line = len(text) - MAX_TRIGGER
            piece = True
        else:
            return False
        end = KEY_END.search(text, rel, len(text) if piece else line_end)
        stop = end.end() if end else rel + len(text[rel:line_end].rstrip(b"\r"))
        if stop > rel:
            self._add_span(Span(base + rel, base + stop, "private-key"))
        if piece and not end:
            self._cursor = base + line_end
            return True
        self._key_lines += 1
        if end or self._key_lines >= KEY_BLOCK_MAX_LINES or (final and next_line >= len(text)):
            self._key_lines = -1
            self._cursor = base + (stop if end else next_line)
        else:
            self._cursor = base + next_line
        return True

    def _trim(self) -> None:
        text, base = self._text, self._base
        line = text.rfind(b"\n", max(0, len(text) - MAX_TRIGGER)) + 1
        need = max(base + line, self._pos - MAX_TRIGGER)
        if self._key_lines >= 0:
            need = min(need, self._cursor)
        if self._hits:
            need = min(need, self._window_start(self._hits[0][0]))
        if need > base:
            self._text, self._base = text[need - base:], need

    # Recording -------------------------------------------------------------

    def _clash(self, start: int, end: int) -> int | None:
        """Index of a recorded span overlapping ``[start, end)``."""
        i = bisect.bisect_left(self._spans, Span(start - MAX_MATCH, 0, ""))
        while i < len(self._spans) and self._spans[i].start < end:
            if start < self._spans[i].end:
                return i
            i += 1
        return None

    def _add_span(self, span: Span) -> None:
        bisect.insort(self._spans, span)

    def _record(self, start: int, end: int, kind: str, shown: str) -> None:
        clash = self._clash(start, end)
        if clash is not None:
            old = self._spans[clash]
            if old.kind == kind and end > old.end:  # the same token, cut by a window end
                self._spans[clash] = Span(old.start, end, kind)
            return
        self._add_span(Span(start, end, kind))
        self.findings.append(SecretFinding(self.path, self._line_of(start), kind, shown,
                                           self.member, start))

    def _line_of(self, offset: int) -> int:
        if not self._count:
            return 0
        text, base = self._text, self._base
        memo_at, memo_lines = self._memo
        if base <= memo_at <= offset:
            before = memo_lines + text.count(b"\n", memo_at - base, offset - base)
        else:
            before = self._newlines - text.count(b"\n", offset - base)
        self._memo = (offset, before)
        return before + 1


def shown_name(raw: bytes, spans: Iterable[Span]) -> str:
    """A name as it may be printed: each secret in it replaced."""
    out, at = [], 0
    for span in sorted(spans):
        out += [raw[at:span.start], b"[REDACTED:" + span.kind.encode() + b"]"]
        at = max(at, span.end)
    out.append(raw[at:])
    return b"".join(out).decode("utf-8", "replace")


def scan_text(path: str, chunks: Iterable[bytes | bytearray | memoryview], *,
              member: str = "", count_lines: bool = True,
              engine: secret_hits.HitFinder | None = None) -> FileScanner:
    """Scans uncompressed bytes; returns the finished scanner."""
    scanner = FileScanner(path, member=member, count_lines=count_lines, engine=engine)
    for chunk in chunks:
        scanner.feed(chunk)
    scanner.finish()
    return scanner
