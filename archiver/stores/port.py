"""The archive storage port: where sealed archives and their detached manifests live.

An archive is published as a pair: the archive object first, its manifest last.
Only a pair counts as sealed; an archive object without its manifest is reported
as incomplete. Writes are create-only: a name that already holds different bytes
is refused, never overwritten, and a rerun that produces the same bytes reuses
what is already stored. Adapters: ``archiver.stores.local`` (embedded default) and
``archiver.stores.s3`` (the only module here that talks to boto3).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from opsledger.archiver.errors import ArchiverError

Progress = Callable[[int], None]
"""Called with the cumulative number of bytes accepted so far."""

MANIFEST_SUFFIX = ".manifest"
DEFAULT_RETENTION_DAYS = 2192  # six years, counting the leap days
READ_CHUNK = 1 << 20
# Leaves room under the usual 255-byte file name limit for the manifest suffix.
MAX_NAME_BYTES = 200

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


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


class ArchiveWriter(io.RawIOBase):
    """Writable stream that publishes one archive object, create-only, on commit.

    Use it as a context manager: leaving the block normally commits, leaving it
    with an exception discards everything written. Closing it before commit also
    discards (so a wrapper that closes its inner stream on error can never publish
    a truncated archive); tell such wrappers not to close it (zstandard:
    ``closefd=False``). When the name already holds an archive, the writer only
    hashes what it is given and, on commit, compares it with the stored bytes.
    """

    def __init__(
        self,
        name: str,
        expected_sha256: str | None,
        expected_size: int | None,
        progress: Progress | None,
    ) -> None:
        super().__init__()
        self.name = name
        self._expected_sha256 = expected_sha256
        self._expected_size = expected_size
        self._progress = progress
        self._hasher = hashlib.sha256()
        self._size = 0
        self._finished = False
        self._result: PutResult | None = None

    # Backend hooks -----------------------------------------------------------

    @abstractmethod
    def _accept(self, data: memoryview) -> None:
        """Take the next bytes; may upload or write them out."""

    @abstractmethod
    def _publish(self, sha256: str, size: int) -> PutResult:
        """Make the archive visible under its name, create-only."""

    @abstractmethod
    def _discard(self) -> None:
        """Drop everything written so far; must be safe to call more than once."""

    # Stream interface --------------------------------------------------------

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        # tarfile asks for the offset when it starts writing.
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._finished or self.closed:
            raise StoreError(f"archive writer for {self.name!r} is already finished", self.name)
        view = memoryview(data).cast("B")
        if not view.nbytes:
            return 0
        self._hasher.update(view)
        try:
            self._accept(view)
        except BaseException:
            self._abort_quietly()
            raise
        self._size += view.nbytes
        if self._progress is not None:
            self._progress(self._size)
        return view.nbytes

    @property
    def result(self) -> PutResult | None:
        """The outcome once committed, else None."""
        return self._result

    def commit(self) -> PutResult:
        if self._result is not None:
            return self._result
        if self._finished or self.closed:
            raise StoreError(
                f"archive writer for {self.name!r} was closed before commit; nothing was published",
                self.name,
            )
        sha256 = self._hasher.hexdigest()
        if self._expected_size is not None and self._size != self._expected_size:
            self._abort_quietly()
            raise ChecksumMismatch(
                f"archive {self.name!r} is {self._size} bytes, expected {self._expected_size}; "
                "nothing was published",
                self.name,
            )
        if self._expected_sha256 is not None and sha256 != self._expected_sha256:
            self._abort_quietly()
            raise ChecksumMismatch(
                f"archive {self.name!r} has sha256 {sha256}, expected {self._expected_sha256}; "
                "nothing was published",
                self.name,
            )
        try:
            result = self._publish(sha256, self._size)
        except BaseException:
            self._abort_quietly()
            raise
        self._finished = True
        self._result = result
        return result

    def abort(self) -> None:
        if not self._finished:
            self._finished = True
            self._discard()

    def _abort_quietly(self) -> None:
        # Used while another error is already on its way out; a failed cleanup
        # leaves a dangling upload that the next writer for this name removes.
        try:
            self.abort()
        except StoreError:
            pass

    def close(self) -> None:
        if not self.closed:
            try:
                self._abort_quietly()
            finally:
                super().close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.abort()
        finally:
            self.close()


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
    def get_manifest(self, name: str) -> bytes | None:
        """The manifest bytes, or None when the archive is not sealed."""

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
