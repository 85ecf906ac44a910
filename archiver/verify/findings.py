"""Typed verification findings: every failure the verifier saw, not the first.

Every one is kept up to a cap per kind (``FindingLog``); past it, one more
finding of that kind counts the rest, so a hostile archive with a million bad
manifest lines prints a hundred of them and a count, not a million.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FindingKind(StrEnum):
    # The compressed stream and the tar framing
    ARCHIVE_UNREADABLE = "archive-unreadable"
    ARCHIVE_CORRUPT = "archive-corrupt"
    ARCHIVE_TRUNCATED = "archive-truncated"
    TRAILING_DATA = "trailing-data"
    SKIPPABLE_FRAME = "zstd-skippable-frame"
    DECOMPRESSION_LIMIT = "decompression-limit"
    LIMIT_EXCEEDED = "limit-exceeded"  # an input past one of the verifier's caps (limits.py)
    # Hostile or unsupported tar members (never hashed, never extracted)
    UNSAFE_PATH = "unsafe-path"
    OUTSIDE_TOP_DIR = "outside-top-dir"
    LINK_MEMBER = "link-member"
    SPECIAL_MEMBER = "special-member"
    DUPLICATE_MEMBER = "duplicate-member"
    # BagIt rules
    BAG_STRUCTURE = "bag-structure"
    BAGIT_TXT = "bagit-txt"
    BAG_INFO = "bag-info"
    PAYLOAD_OXUM = "payload-oxum"
    MANIFEST_MISSING = "manifest-missing"
    MANIFEST_MALFORMED = "manifest-malformed"
    MANIFEST_UNVERIFIED = "manifest-unverified"
    TAG_FILE_TOO_LARGE = "tag-file-too-large"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    FILE_MISSING = "file-missing"
    FILE_NOT_IN_MANIFEST = "file-not-in-manifest"
    # The detached JSON manifest
    DETACHED_INVALID = "detached-manifest-invalid"
    DETACHED_MISMATCH = "detached-mismatch"
    DETACHED_MISSING = "detached-missing"
    DETACHED_UNLISTED = "detached-unlisted"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    path: str | None  # bag-relative path, or the raw member name for hostile members
    expected: str | None
    actual: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.path!r}" if self.path is not None else ""
        detail = ""
        if self.expected is not None or self.actual is not None:
            detail = f" (expected {self.expected}, got {self.actual})"
        return f"{self.kind}{where}: {self.message}{detail}"


def finding(
    kind: FindingKind,
    path: str | None,
    message: str,
    *,
    expected: object = None,
    actual: object = None,
) -> Finding:
    return Finding(
        kind,
        path,
        None if expected is None else str(expected),
        None if actual is None else str(actual),
        message,
    )


class FindingLog:
    """Findings in the order seen, at most ``per_kind`` of each kind kept."""

    def __init__(self, per_kind: int) -> None:
        self.per_kind = per_kind
        self.kept: list[Finding] = []
        self.counts: dict[FindingKind, int] = {}

    def add(self, item: Finding) -> None:
        n = self.counts.get(item.kind, 0) + 1
        self.counts[item.kind] = n
        if n <= self.per_kind:
            self.kept.append(item)

    def extend(self, items: list[Finding]) -> None:
        for item in items:
            self.add(item)

    def findings(self) -> list[Finding]:
        """What was kept, then one line per kind counting what was not."""
        more = [
            Finding(kind, None, None, None, f"{n - self.per_kind} more {kind} finding(s) not listed")
            for kind, n in self.counts.items() if n > self.per_kind
        ]
        return self.kept + more
