"""What crosses the store port: names and checksums checked, results reported.

Both adapters accept exactly the same names (``validate_name``), so an archive
can move between a local folder and a bucket unchanged.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from opsledger.archiver.stores.errors import InvalidInput

Progress = Callable[[int], None]
"""Called with the cumulative number of bytes accepted so far."""

MANIFEST_SUFFIX = ".manifest"
DEFAULT_RETENTION_DAYS = 2192  # six years, counting the leap days
READ_CHUNK = 1 << 20
# Leaves room under the usual 255-byte file name limit for the manifest suffix.
MAX_NAME_BYTES = 200

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PutResult:
    """What one create-only write left in the store."""

    name: str
    location: str
    sha256: str
    size: int
    location_hash: str
    reused: bool = False
    """True when identical bytes were already stored (a rerun) and nothing was written."""
    parts: int = 1
    version_id: str | None = None
    retention_mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False
    notes: tuple[str, ...] = field(default=())
    """Things an operator should know, e.g. that the bucket has no Object Lock."""


@dataclass(frozen=True)
class ArchiveInfo:
    """The state of one name: sealed only when both archive and manifest are present."""

    name: str
    location: str
    archive_present: bool
    manifest_present: bool
    size: int | None = None
    version_id: str | None = None
    location_hash: str | None = None
    retention_mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False

    @property
    def complete(self) -> bool:
        return self.archive_present and self.manifest_present


def location_hash(location: str, version_id: str | None = None) -> str:
    """The storage location's hash recorded on the ticket.

    The object version is part of it where the server has one, so the hash pins
    the exact bytes even on a versioned bucket.
    """
    canonical = location if version_id is None else f"{location}?versionId={version_id}"
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def validate_name(name: object) -> str:
    """Return the name if both adapters can store it unchanged, else raise InvalidInput."""
    if not isinstance(name, str):
        raise InvalidInput(f"archive name must be a string, not {type(name).__name__}")
    if not name or name != name.strip():
        raise InvalidInput(f"archive name {name!r} is empty or has surrounding whitespace")
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidInput(f"archive name {name!r} is not in Unicode NFC form")
    bad = [c for c in name if c in "/\\" or unicodedata.category(c) in ("Cc", "Cs")]
    if bad:
        raise InvalidInput(f"archive name {name!r} contains {bad[0]!r}", name)
    if name.startswith("."):
        raise InvalidInput(f"archive name {name!r} must not start with '.'", name)
    if name.endswith(MANIFEST_SUFFIX):
        raise InvalidInput(f"archive name {name!r} must not end with {MANIFEST_SUFFIX!r}", name)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidInput(f"archive name is longer than {MAX_NAME_BYTES} UTF-8 bytes", name)
    return name


def validate_sha256(sha256: object) -> str:
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256.lower()):
        raise InvalidInput(f"sha256 must be 64 hex digits, got {sha256!r}")
    return sha256.lower()


def hash_stream(stream: BinaryIO, progress: Progress | None = None) -> tuple[str, int]:
    """SHA-256 and size of everything left in the stream, read in bounded chunks."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(READ_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(size)
    return hasher.hexdigest(), size
