"""The S3 archive writer: the archive goes up while it is being written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsledger.archiver.stores.errors import ChecksumMismatch, StoreError
from opsledger.archiver.stores.records import Progress, PutResult
from opsledger.archiver.stores.s3client import AlreadyCreated, checksum_args
from opsledger.archiver.stores.writer import ArchiveWriter

if TYPE_CHECKING:
    from opsledger.archiver.stores.s3 import S3ArchiveStore

MAX_PARTS = 10_000


class S3Writer(ArchiveWriter):
    """Uploads while the archive is written: one PUT, or a multipart upload once it
    passes ``part_size``; every create is conditional and every part carries its SHA-256."""

    def __init__(
        self,
        store: S3ArchiveStore,
        name: str,
        key: str,
        lock_args: dict[str, Any],
        existing: bool,
        expected_sha256: str | None,
        expected_size: int | None,
        progress: Progress | None,
    ) -> None:
        super().__init__(name, expected_sha256, expected_size, progress)
        self._store = store
        self._key = key
        self._lock_args = lock_args
        # A rerun of an archive that is already stored only needs to be compared.
        self._existing = existing
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def _accept(self, data: memoryview) -> None:
        if self._existing:
            return
        self._buffer += data
        part_size = self._store.part_size
        # Strictly greater: the last part is never empty, and an archive of exactly
        # one part size still goes up as a single PUT.
        while len(self._buffer) > part_size:
            part = bytes(memoryview(self._buffer)[:part_size])
            del self._buffer[:part_size]
            self._upload_part(part)

    def _upload_part(self, part: bytes) -> None:
        store, client = self._store, self._store._client
        uri = store._uri(self._key)
        if self._upload_id is None:
            response = store._call(
                f"start an upload of {uri}",
                client.create_multipart_upload,
                Bucket=store.bucket,
                Key=self._key,
                ChecksumAlgorithm="SHA256",
                **self._lock_args,
            )
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StoreError(
                f"archive {self.name!r} needs more than {MAX_PARTS} parts; raise part_size",
                self.name,
            )
        digests = checksum_args(part)
        checksum = digests["ChecksumSHA256"]
        response = store._call(
            f"upload part {number} of {uri}",
            client.upload_part,
            Bucket=store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
            ContentLength=len(part),
            **digests,
        )
        echoed = response.get("ChecksumSHA256")
        if echoed is not None and echoed != checksum:
            raise ChecksumMismatch(f"server stored part {number} of {uri} with a different SHA-256")
        self._parts.append(
            {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}
        )

    def _publish(self, sha256: str, size: int) -> PutResult:
        store = self._store
        if not self._existing:
            try:
                if self._upload_id is None:
                    self._put_single()
                else:
                    self._complete_multipart()
                head = store._head(self._key)
                if head is None:
                    raise StoreError(
                        f"{store._uri(self._key)} is missing right after upload", self.name
                    )
                store._check_single_version(self._key, head, self.name)
                head = store._ensure_retention(self._key, head)
                return store._result(
                    self.name, self._key, head, sha256, False, max(1, len(self._parts))
                )
            except AlreadyCreated:
                self._discard()  # another run got there first; compare below
        existing = store.verify_existing(self.name, sha256, size)
        if existing is None:
            raise StoreError(
                f"archive {self.name!r} disappeared while it was being compared; run again",
                self.name,
            )
        return existing

    def _put_single(self) -> None:
        store = self._store
        body = bytes(self._buffer)
        self._buffer = bytearray()
        store._call(
            f"write {store._uri(self._key)}",
            store._client.put_object,
            Bucket=store.bucket,
            Key=self._key,
            Body=body,
            ContentLength=len(body),
            IfNoneMatch="*",
            **checksum_args(body),
            **self._lock_args,
        )

    def _complete_multipart(self) -> None:
        store = self._store
        self._upload_part(bytes(self._buffer))
        self._buffer = bytearray()
        assert self._upload_id is not None
        store._call(
            f"finish the upload of {store._uri(self._key)}",
            store._client.complete_multipart_upload,
            Bucket=store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
            IfNoneMatch="*",
        )
        self._upload_id = None

    def _discard(self) -> None:
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            self._store._abort_upload(self._key, upload_id)
