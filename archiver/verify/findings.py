"""Typed verification findings: every failure the verifier saw, not the first."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FindingKind(StrEnum):
    # The compressed stream and the tar framing
    ARCHIVE_UNREADABLE = "archive-unreadable"
    ARCHIVE_CORRUPT = "archive-corrupt"
    ARCHIVE_TRUNCATED = "archive-truncated"
    TRAILING_DATA = "trailing-data"
    DECOMPRESSION_LIMIT = "decompression-limit"
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
