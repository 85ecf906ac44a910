"""The archive writer every adapter extends: hash as written, publish on commit."""

from __future__ import annotations

import hashlib
import io
from abc import abstractmethod
from types import TracebackType

from opsledger.archiver.stores.errors import ChecksumMismatch, StoreError
from opsledger.archiver.stores.records import Progress, PutResult


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
