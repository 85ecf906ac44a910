"""Errors of the archive stores: every adapter raises these and only these.

Each message is one line; ``name`` says which archive, when there is one.
"""

from __future__ import annotations

from opsledger.archiver.errors import ArchiverError


class StoreError(ArchiverError):
    """Base of every error raised by an archive store; the message is one line."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(" ".join(message.split()))
        self.name = name


class InvalidInput(StoreError):
    """A name, checksum, source or store setting that can never work."""


class ArchiveNotFound(StoreError):
    """Nothing is stored under the name."""


class ArchiveConflict(StoreError):
    """The name already holds different bytes; they are left untouched."""


class ChecksumMismatch(StoreError):
    """The bytes written do not match the declared SHA-256 or size; nothing was published."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or used (missing bucket, no access, disk error)."""


class RetentionError(StoreError):
    """Retention was required but cannot be applied or confirmed."""
