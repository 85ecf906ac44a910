"""S3 archive store: keys, Object Lock and the port's operations on one bucket.

Keys: ``<prefix>/<name>`` and ``<prefix>/<name>.manifest``. Archives larger
than one part go up as a multipart upload while they are being written; every
part and every single PUT carries its SHA-256, and every create is conditional
(``If-None-Match: *``). Correctness never rests on the server honouring either:
a rerun re-reads the stored object and hashes it itself, because some servers
(Ceph RGW 16) ignore checksum headers and mishandle conditional requests.
Where the bucket has Object Lock, objects get COMPLIANCE retention and, if
asked, a legal hold; retention is read back after each write and applied
explicitly when the server dropped it. boto3 itself is reached only through
``stores.s3client``; the upload is ``stores.s3writer``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from opsledger.archiver.stores.errors import (
    ArchiveConflict,
    ArchiveNotFound,
    InvalidInput,
    StoreError,
    StoreUnavailable,
)
from opsledger.archiver.stores.port import ArchiveStore
from opsledger.archiver.stores.records import (
    DEFAULT_RETENTION_DAYS,
    MANIFEST_SUFFIX,
    READ_CHUNK,
    ArchiveInfo,
    Progress,
    PutResult,
    hash_stream,
    location_hash,
    validate_name,
)
from opsledger.archiver.stores.s3client import (
    AlreadyCreated,
    BodyReader,
    KeyMissing,
    call,
    checksum_args,
    connect,
    is_int,
    pages,
)
from opsledger.archiver.stores.s3lock import ObjectLockPolicy
from opsledger.archiver.stores.s3writer import S3Writer
from opsledger.archiver.stores.writer import ArchiveWriter

MiB = 1 << 20
DEFAULT_PART_SIZE = 64 * MiB
MIN_PART_SIZE = 5 * MiB  # S3 minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB

def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidInput(f"S3 location must look like s3://bucket/prefix, got {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix


class S3ArchiveStore(ObjectLockPolicy, ArchiveStore):
    """Archive store in an S3 bucket; every argument is a plain value from settings.

    Credentials: explicit keys when given, else boto3's usual chain (environment,
    shared config, instance role). ``retention_days`` (default 2192 = 6 years)
    and ``legal_hold`` apply only where the bucket has Object Lock; without it the
    result says so in ``notes``, unless ``require_object_lock`` makes it an error.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        legal_hold: bool = False,
        part_size: int = DEFAULT_PART_SIZE,
        require_object_lock: bool = False,
        addressing_style: str = "auto",
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        self.bucket = _checked_bucket(bucket)
        self.prefix = _checked_prefix(prefix)
        if not is_int(retention_days) or not 1 <= retention_days <= 36_500:
            raise InvalidInput(f"retention_days must be 1..36500, got {retention_days!r}")
        if not is_int(part_size) or not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise InvalidInput(
                f"part_size must be {MIN_PART_SIZE}..{MAX_PART_SIZE} bytes, got {part_size!r}"
            )
        client = connect(
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            addressing_style=addressing_style,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )
        self.retention_days = retention_days
        self.legal_hold = bool(legal_hold)
        self.part_size = part_size
        self.require_object_lock = bool(require_object_lock)
        self.endpoint_url = endpoint_url
        self._client = client
        self._bucket_checked = False
        self._lock_enabled: bool | None = None

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> S3ArchiveStore:
        bucket, prefix = parse_s3_uri(uri)
        return cls(bucket, prefix, **options)

    def __repr__(self) -> str:
        return f"S3ArchiveStore({self._uri(self._base())!r}, endpoint_url={self.endpoint_url!r})"

    # Keys and calls ------------------------------------------------------------

    def _base(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def _key(self, name: str) -> str:
        return self._base() + validate_name(name)

    def _manifest_key(self, name: str) -> str:
        return self._key(name) + MANIFEST_SUFFIX

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def location(self, name: str) -> str:
        return self._uri(self._key(name))

    def _call(self, action: str, method: Callable[..., Any], /, **kwargs: Any) -> Any:
        return call(self.bucket, action, method, **kwargs)

    def _ensure_bucket(self) -> None:
        if self._bucket_checked:
            return
        try:
            self._call(f"open bucket {self.bucket!r}", self._client.head_bucket, Bucket=self.bucket)
        except KeyMissing:
            # HEAD has no body, so a missing bucket only shows up as a bare 404.
            raise StoreUnavailable(f"bucket {self.bucket!r} does not exist") from None
        self._bucket_checked = True

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self._call(
                f"read {self._uri(key)}", self._client.head_object, Bucket=self.bucket, Key=key
            )
        except KeyMissing:
            return None

    def _abort_dangling(self, key: str) -> int:
        """Abort multipart uploads left for this key by an interrupted earlier run."""
        aborted = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        action = f"list unfinished uploads of {self._uri(key)}"
        listed = pages(self.bucket, action, paginator.paginate(Bucket=self.bucket, Prefix=key))
        uploads = [u for page in listed for u in page.get("Uploads", []) if u.get("Key") == key]
        for upload in uploads:
            self._abort_upload(key, upload["UploadId"])
            aborted += 1
        return aborted

    def _abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self._call(
                f"abort an upload of {self._uri(key)}",
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )
        except KeyMissing:
            pass  # already gone

    def _result(
        self, name: str, key: str, head: dict[str, Any], sha256: str, reused: bool, parts: int = 1
    ) -> PutResult:
        uri = self._uri(key)
        version = head.get("VersionId")
        if version == "null":  # unversioned bucket
            version = None
        return PutResult(
            name=name,
            location=uri,
            sha256=sha256,
            size=int(head.get("ContentLength", 0)),
            location_hash=location_hash(uri, version),
            reused=reused,
            parts=parts,
            version_id=version,
            retention_mode=head.get("ObjectLockMode"),
            retain_until=_utc(head.get("ObjectLockRetainUntilDate")),
            legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
            notes=self._lock_notes(),
        )

    def _get_body(self, key: str) -> Any:
        response = self._call(
            f"read {self._uri(key)}", self._client.get_object, Bucket=self.bucket, Key=key
        )
        return response["Body"]

    # Port --------------------------------------------------------------------------

    def open_writer(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        progress: Progress | None = None,
    ) -> ArchiveWriter:
        key = self._key(name)
        lock_args = self._lock_args()
        self._abort_dangling(key)
        existing = self._head(key) is not None
        return S3Writer(
            self, name, key, lock_args, existing, expected_sha256, expected_size, progress
        )

    def verify_existing(
        self, name: str, sha256: str, size: int | None = None, progress: Progress | None = None
    ) -> PutResult | None:
        key = self._key(name)
        self._object_lock_enabled()
        head = self._head(key)
        if head is None:
            return None
        uri = self._uri(key)
        stored_size = int(head.get("ContentLength", -1))
        if size is not None and stored_size != size:
            raise ArchiveConflict(
                f"{uri} already holds {stored_size} bytes, not {size}; refusing to overwrite", name
            )
        try:
            with self._open_key(key, name) as stored:
                actual, _ = hash_stream(stored, progress)
        except ArchiveNotFound:
            return None
        if actual != sha256:
            raise ArchiveConflict(
                f"{uri} already holds different bytes (sha256 {actual}); refusing to overwrite",
                name,
            )
        # A run that died right after the upload may not have repaired retention yet.
        self._check_single_version(key, head, name)
        head = self._ensure_retention(key, head)
        return self._result(name, key, head, actual, reused=True)

    def put_manifest(self, name: str, data: bytes) -> PutResult:
        key = self._manifest_key(name)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(
                f"manifest for {name!r} must be bytes, not {type(data).__name__}", name
            )
        data = bytes(data)
        sha256 = hashlib.sha256(data).hexdigest()
        lock_args = self._lock_args()
        if self._head(self._key(name)) is None:
            raise ArchiveNotFound(
                f"archive {name!r} has no archive object; publish it before its manifest", name
            )
        reused = True
        if self._head(key) is None:
            try:
                self._call(
                    f"write {self._uri(key)}",
                    self._client.put_object,
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentLength=len(data),
                    IfNoneMatch="*",
                    **checksum_args(data),
                    **lock_args,
                )
                reused = False
            except AlreadyCreated:
                pass  # written by a concurrent run; compared below
        if reused:
            stored = self.get_manifest(name)
            if stored != data:
                raise ArchiveConflict(
                    f"{self._uri(key)} already holds a different manifest; refusing to overwrite",
                    name,
                )
        head = self._head(key)
        if head is None:
            raise StoreError(f"{self._uri(key)} is missing right after it was written", name)
        self._check_single_version(key, head, name)
        head = self._ensure_retention(key, head)
        return self._result(name, key, head, sha256, reused=reused)

    def _open_key(self, key: str, name: str) -> BinaryIO:
        try:
            body = self._get_body(key)
        except KeyMissing:
            raise ArchiveNotFound(f"no archive object at {self._uri(key)}", name) from None
        return io.BufferedReader(BodyReader(body, self._uri(key)), READ_CHUNK)  # type: ignore[return-value]

    def open_archive(self, name: str) -> BinaryIO:
        key = self._key(name)
        self._ensure_bucket()
        return self._open_key(key, name)

    def get_manifest(self, name: str, *, max_bytes: int | None = None) -> bytes | None:
        key = self._manifest_key(name)
        self._ensure_bucket()
        try:
            body = self._get_body(key)
        except KeyMissing:
            return None
        with io.BufferedReader(BodyReader(body, self._uri(key)), READ_CHUNK) as stream:
            return stream.read(-1 if max_bytes is None else max_bytes)

    def _info(self, name: str) -> ArchiveInfo | None:
        key = self._key(name)
        head = self._head(key)
        manifest_present = self._head(self._manifest_key(name)) is not None
        if head is None and not manifest_present:
            return None
        uri = self._uri(key)
        head = head or {}
        version = head.get("VersionId")
        if version == "null":
            version = None
        present = bool(head)
        return ArchiveInfo(
            name=name,
            location=uri,
            archive_present=present,
            manifest_present=manifest_present,
            size=int(head["ContentLength"]) if present else None,
            version_id=version,
            location_hash=location_hash(uri, version) if present else None,
            retention_mode=head.get("ObjectLockMode"),
            retain_until=_utc(head.get("ObjectLockRetainUntilDate")),
            legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
        )

    def stat(self, name: str) -> ArchiveInfo:
        validate_name(name)
        self._ensure_bucket()
        info = self._info(name)
        if info is None:
            raise ArchiveNotFound(
                f"nothing is stored under {name!r} in {self._uri(self._base())}", name
            )
        return info

    def list(self) -> Iterator[ArchiveInfo]:
        self._ensure_bucket()
        base = self._base()
        names: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        action = f"list {self._uri(base)}"
        for page in pages(self.bucket, action, paginator.paginate(Bucket=self.bucket, Prefix=base)):
            for item in page.get("Contents", []):
                rest = item["Key"][len(base) :]
                try:
                    names.add(validate_name(rest.removesuffix(MANIFEST_SUFFIX)))
                except InvalidInput:
                    continue  # not written by this store (e.g. a deeper "folder")
        for name in sorted(names):
            info = self._info(name)
            if info is not None:
                yield info


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _checked_bucket(bucket: object) -> str:
    if (
        not isinstance(bucket, str)
        or not 3 <= len(bucket) <= 63
        or not all(c.isascii() and (c.isalnum() or c in ".-_") for c in bucket)
    ):
        raise InvalidInput(f"not a valid S3 bucket name: {bucket!r}")
    return bucket


def _checked_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise InvalidInput(f"S3 prefix must be a string, got {prefix!r}")
    prefix = prefix.strip("/")
    if "//" in prefix or any(ord(c) < 32 for c in prefix):
        raise InvalidInput(f"not a usable S3 prefix: {prefix!r}")
    return prefix
