"""S3 archive store (boto3): the only module in ``archiver`` that talks to boto3.

Keys: ``<prefix>/<name>`` and ``<prefix>/<name>.manifest``. Archives larger
than one part go up as a multipart upload while they are being written; every
part and every single PUT carries its SHA-256, and every create is conditional
(``If-None-Match: *``). Correctness never rests on the server honouring either:
a rerun re-reads the stored object and hashes it itself, because some servers
(Ceph RGW 16) ignore checksum headers and mishandle conditional requests.
Where the bucket has Object Lock, objects get COMPLIANCE retention and, if
asked, a legal hold; retention is read back after each write and applied
explicitly when the server dropped it.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from opsledger.archiver.stores.errors import (
    ArchiveConflict,
    ArchiveNotFound,
    ChecksumMismatch,
    InvalidInput,
    RetentionError,
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
from opsledger.archiver.stores.writer import ArchiveWriter
from urllib3.exceptions import HTTPError as URLLib3Error

MiB = 1 << 20
DEFAULT_PART_SIZE = 64 * MiB
MIN_PART_SIZE = 5 * MiB  # S3 minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000

_UNAVAILABLE_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "NoSuchBucket",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
}


class _KeyMissing(ArchiveNotFound):
    """The key (not the bucket) does not exist; callers turn this into their own answer."""


class _AlreadyCreated(ArchiveConflict):
    """A create-only write found the key taken; callers compare before refusing."""


def _digests(data: bytes) -> dict[str, str]:
    """Checksum arguments for one request body.

    SHA-256 is what the archive promises; Content-MD5 rides along because servers
    such as Ceph RGW 16 ignore the SHA-256 header but do refuse a wrong MD5.
    """
    return {
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        "ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode("ascii"),
    }


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidInput(f"S3 location must look like s3://bucket/prefix, got {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix


class S3ArchiveStore(ArchiveStore):
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
        if not _is_int(retention_days) or not 1 <= retention_days <= 36_500:
            raise InvalidInput(f"retention_days must be 1..36500, got {retention_days!r}")
        if not _is_int(part_size) or not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise InvalidInput(
                f"part_size must be {MIN_PART_SIZE}..{MAX_PART_SIZE} bytes, got {part_size!r}"
            )
        if (access_key_id is None) != (secret_access_key is None):
            raise InvalidInput("give both access_key_id and secret_access_key, or neither")
        if session_token is not None and access_key_id is None:
            raise InvalidInput("session_token needs access_key_id and secret_access_key")
        for label, seconds in (
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
        ):
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
                raise InvalidInput(f"{label} must be a positive number of seconds, got {seconds!r}")
        if endpoint_url is not None and not (
            isinstance(endpoint_url, str) and endpoint_url.startswith(("http://", "https://"))
        ):
            raise InvalidInput(
                f"endpoint_url must start with http:// or https://, got {endpoint_url!r}"
            )
        if addressing_style not in ("auto", "path", "virtual"):
            raise InvalidInput(
                f"addressing_style must be auto, path or virtual, got {addressing_style!r}"
            )
        if not _is_int(max_attempts) or max_attempts < 1:
            raise InvalidInput(f"max_attempts must be a positive integer, got {max_attempts!r}")
        self.retention_days = retention_days
        self.legal_hold = bool(legal_hold)
        self.part_size = part_size
        self.require_object_lock = bool(require_object_lock)
        self.endpoint_url = endpoint_url
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": addressing_style},
            # We send SHA-256 ourselves; the SDK's default CRC32 trailers confuse older servers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                region_name=region,
            )
            self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:
            raise InvalidInput(f"cannot configure S3 client: {exc}") from None
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
        try:
            return method(**kwargs)
        except ClientError as exc:
            raise self._translate(exc, action) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StoreUnavailable(f"cannot {action}: no usable S3 credentials found") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"cannot {action}: {exc}") from None

    def _translate(self, exc: ClientError, action: str) -> StoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or code or f"HTTP {status}"
        if code == "NoSuchBucket":
            return StoreUnavailable(f"cannot {action}: bucket {self.bucket!r} does not exist")
        if code in ("NoSuchKey", "NotFound", "404") or status == 404:
            return _KeyMissing(f"cannot {action}: not found")
        if code == "PreconditionFailed" or status == 412:
            return _AlreadyCreated(f"cannot {action}: the object already exists")
        if code in _UNAVAILABLE_CODES or status in (401, 403) or (status or 0) >= 500:
            return StoreUnavailable(f"cannot {action}: {code or status}: {message}")
        return StoreError(f"cannot {action}: {code or status}: {message}")

    def _ensure_bucket(self) -> None:
        if self._bucket_checked:
            return
        try:
            self._call(f"open bucket {self.bucket!r}", self._client.head_bucket, Bucket=self.bucket)
        except _KeyMissing:
            # HEAD has no body, so a missing bucket only shows up as a bare 404.
            raise StoreUnavailable(f"bucket {self.bucket!r} does not exist") from None
        self._bucket_checked = True

    def _object_lock_enabled(self) -> bool:
        self._ensure_bucket()
        if self._lock_enabled is None:
            try:
                response = self._client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = (
                    response.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                    == "Enabled"
                )
            except ClientError as exc:
                if (
                    exc.response.get("Error", {}).get("Code")
                    != "ObjectLockConfigurationNotFoundError"
                ):
                    raise self._translate(
                        exc, "read the bucket's Object Lock configuration"
                    ) from None
                enabled = False
            except BotoCoreError as exc:
                raise StoreUnavailable(f"cannot read Object Lock configuration: {exc}") from None
            self._lock_enabled = enabled
        if not self._lock_enabled and self.require_object_lock:
            raise RetentionError(
                f"bucket {self.bucket!r} has no Object Lock, and policy requires it; nothing was written"
            )
        return self._lock_enabled

    def _lock_args(self) -> dict[str, Any]:
        if not self._object_lock_enabled():
            return {}
        args: dict[str, Any] = {
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": datetime.now(UTC) + timedelta(days=self.retention_days),
        }
        if self.legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        return args

    def _lock_notes(self) -> tuple[str, ...]:
        if self._lock_enabled:
            return ()
        note = f"bucket {self.bucket!r} has no Object Lock; retention not applied"
        return (note + "; legal hold not applied",) if self.legal_hold else (note,)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self._call(
                f"read {self._uri(key)}", self._client.head_object, Bucket=self.bucket, Key=key
            )
        except _KeyMissing:
            return None

    def _abort_dangling(self, key: str) -> int:
        """Abort multipart uploads left for this key by an interrupted earlier run."""
        aborted = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=key)
        action = f"list unfinished uploads of {self._uri(key)}"
        try:
            uploads = [u for page in pages for u in page.get("Uploads", []) if u.get("Key") == key]
        except ClientError as exc:
            raise self._translate(exc, action) from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"cannot {action}: {exc}") from None
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
        except _KeyMissing:
            pass  # already gone

    def _check_single_version(self, key: str, head: dict[str, Any], name: str) -> None:
        """Refuse a key that holds more than one version.

        In a versioned bucket (every Object Lock bucket is one) Ceph RGW 16 ignores
        If-None-Match, so a racing writer adds a version instead of being refused.
        Such a name must not be sealed: which version is the archive is a human call.
        """
        if head.get("VersionId") in (None, "null"):
            return  # unversioned: If-None-Match was the guard
        versions = 0
        paginator = self._client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                versions += sum(1 for v in page.get("Versions", []) if v.get("Key") == key)
        except ClientError as exc:
            raise self._translate(exc, f"list the versions of {self._uri(key)}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"cannot list the versions of {self._uri(key)}: {exc}") from None
        if versions > 1:
            raise ArchiveConflict(
                f"{self._uri(key)} holds {versions} versions (a concurrent writer, or a server "
                "that ignores If-None-Match); not sealing it, resolve by hand",
                name,
            )

    def _ensure_retention(self, key: str, head: dict[str, Any]) -> dict[str, Any]:
        """Apply retention and legal hold when the server dropped the create headers."""
        if not self._lock_enabled:
            return head
        version = head.get("VersionId")
        versioned = {"VersionId": version} if version else {}
        changed = False
        if head.get("ObjectLockMode") is None:
            until = datetime.now(UTC) + timedelta(days=self.retention_days)
            self._call(
                f"set retention on {self._uri(key)}",
                self._client.put_object_retention,
                Bucket=self.bucket,
                Key=key,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
                **versioned,
            )
            changed = True
        if self.legal_hold and head.get("ObjectLockLegalHoldStatus") != "ON":
            self._call(
                f"set legal hold on {self._uri(key)}",
                self._client.put_object_legal_hold,
                Bucket=self.bucket,
                Key=key,
                LegalHold={"Status": "ON"},
                **versioned,
            )
            changed = True
        if not changed:
            return head
        head = self._head(key) or {}
        if head.get("ObjectLockMode") is None or (
            self.legal_hold and head.get("ObjectLockLegalHoldStatus") != "ON"
        ):
            raise RetentionError(f"server did not keep retention on {self._uri(key)}")
        return head

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
        return _S3Writer(
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
                    **_digests(data),
                    **lock_args,
                )
                reused = False
            except _AlreadyCreated:
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
        except _KeyMissing:
            raise ArchiveNotFound(f"no archive object at {self._uri(key)}", name) from None
        return io.BufferedReader(_BodyReader(body, self._uri(key)), READ_CHUNK)  # type: ignore[return-value]

    def open_archive(self, name: str) -> BinaryIO:
        key = self._key(name)
        self._ensure_bucket()
        return self._open_key(key, name)

    def get_manifest(self, name: str) -> bytes | None:
        key = self._manifest_key(name)
        self._ensure_bucket()
        try:
            body = self._get_body(key)
        except _KeyMissing:
            return None
        with io.BufferedReader(_BodyReader(body, self._uri(key)), READ_CHUNK) as stream:
            return stream.read()

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
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for item in page.get("Contents", []):
                    rest = item["Key"][len(base) :]
                    try:
                        names.add(validate_name(rest.removesuffix(MANIFEST_SUFFIX)))
                    except InvalidInput:
                        continue  # not written by this store (e.g. a deeper "folder")
        except ClientError as exc:
            raise self._translate(exc, action) from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"cannot {action}: {exc}") from None
        for name in sorted(names):
            info = self._info(name)
            if info is not None:
                yield info


class _S3Writer(ArchiveWriter):
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
        digests = _digests(part)
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
            except _AlreadyCreated:
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
            **_digests(body),
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


class _BodyReader(io.RawIOBase):
    """Raw stream over a boto3 response body that raises only store errors."""

    def __init__(self, body: Any, uri: str) -> None:
        super().__init__()
        self._body = body
        self._uri = uri

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except (BotoCoreError, URLLib3Error, OSError) as exc:
            raise StoreUnavailable(f"reading {self._uri} failed: {exc}") from None
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._body.close()
            finally:
                super().close()


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
