"""The archive storage port: where sealed archives and their detached manifests live.

An archive is published as a pair: the archive object first, its manifest last.
Only a pair counts as sealed; an archive object without its manifest is reported
as incomplete. Writes are create-only: a name that already holds different bytes
is refused, never overwritten, and a rerun that produces the same bytes reuses
what is already stored. Adapters: ``archiver.stores.local`` (embedded default) and
``archiver.stores.s3`` (its ``s3client`` is the only module here that talks to boto3).
Errors are in ``stores.errors``, names and results in ``stores.records``, the
writer every adapter extends in ``stores.writer``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from opsledger.archiver.stores.errors import InvalidInput
from opsledger.archiver.stores.records import (
    READ_CHUNK,
    ArchiveInfo,
    Progress,
    PutResult,
    validate_name,
    validate_sha256,
)
from opsledger.archiver.stores.writer import ArchiveWriter


class ArchiveStore(ABC):
    """Port for the place sealed archives are kept (local folder, S3 bucket)."""

    @abstractmethod
    def location(self, name: str) -> str:
        """Canonical URI of the archive object for this name."""

    @abstractmethod
    def open_writer(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        progress: Progress | None = None,
    ) -> ArchiveWriter:
        """A stream that publishes the archive object when committed (see ArchiveWriter).

        Leftovers of earlier interrupted writes of this name are removed first, so
        only one writer per name may run at a time.
        """

    @abstractmethod
    def put_manifest(self, name: str, data: bytes) -> PutResult:
        """Publish the detached manifest, which seals the archive; the archive must exist.

        Identical bytes already stored are reused; different bytes raise ArchiveConflict.
        """

    @abstractmethod
    def open_archive(self, name: str) -> BinaryIO:
        """Streaming read of the archive object (also when its manifest is missing)."""

    @abstractmethod
    def get_manifest(self, name: str, *, max_bytes: int | None = None) -> bytes | None:
        """The manifest bytes (at most ``max_bytes`` of them), or None when the
        archive is not sealed."""

    @abstractmethod
    def stat(self, name: str) -> ArchiveInfo:
        """State of the name; raises ArchiveNotFound when neither object exists."""

    @abstractmethod
    def list(self) -> Iterator[ArchiveInfo]:
        """Every name in the store, sealed or not, in name order."""

    @abstractmethod
    def verify_existing(
        self, name: str, sha256: str, size: int | None = None, progress: Progress | None = None
    ) -> PutResult | None:
        """Re-read a stored archive object and compare it with the given SHA-256.

        Returns None when there is no archive object, a reused PutResult when the
        bytes match, and raises ArchiveConflict when they differ. Server-side
        checksums are not trusted for this: some servers ignore them.
        """

    def put_archive(
        self,
        name: str,
        source: BinaryIO | str | os.PathLike[str],
        *,
        sha256: str,
        size: int | None = None,
        progress: Progress | None = None,
    ) -> PutResult:
        """Publish a finished archive from a file or stream whose SHA-256 is known.

        On a rerun where the stored archive already has this SHA-256 the source is
        not read at all.
        """
        validate_name(name)
        sha256 = validate_sha256(sha256)
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InvalidInput(f"size must be a non-negative integer, got {size!r}", name)
        existing = self.verify_existing(name, sha256, size, progress)
        if existing is not None:
            return existing
        stream, owned = _open_source(source, name)
        try:
            with self.open_writer(
                name, expected_sha256=sha256, expected_size=size, progress=progress
            ) as writer:
                while True:
                    try:
                        chunk = stream.read(READ_CHUNK)
                    except OSError as exc:
                        raise InvalidInput(
                            f"cannot read archive source for {name!r}: {exc.strerror or exc}", name
                        ) from None
                    if not chunk:
                        break
                    writer.write(chunk)
        finally:
            if owned:
                stream.close()
        assert writer.result is not None  # __exit__ committed or raised
        return writer.result


def _open_source(source: BinaryIO | str | os.PathLike[str], name: str) -> tuple[BinaryIO, bool]:
    if isinstance(source, str | os.PathLike):
        try:
            return open(Path(source), "rb"), True
        except OSError as exc:
            raise InvalidInput(
                f"cannot open archive source {os.fspath(source)!r}: {exc.strerror or exc}", name
            ) from None
    if not hasattr(source, "read"):
        raise InvalidInput(
            f"archive source must be a path or a readable binary stream, not {type(source).__name__}",
            name,
        )
    return source, False
