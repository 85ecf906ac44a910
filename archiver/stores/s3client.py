"""The S3 client: the only module in ``archiver`` that talks to boto3 or botocore.

Everything above it (``stores.s3``, ``stores.s3writer``) calls the client through
``call``/``pages`` and sees only store errors: a botocore failure becomes
``StoreUnavailable`` or another ``StoreError`` here, with the action that failed.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

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
    InvalidInput,
    StoreError,
    StoreUnavailable,
)
from urllib3.exceptions import HTTPError as URLLib3Error

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


class KeyMissing(ArchiveNotFound):
    """The key (not the bucket) does not exist; callers turn this into their own answer."""


class AlreadyCreated(ArchiveConflict):
    """A create-only write found the key taken; callers compare before refusing."""


def checksum_args(data: bytes) -> dict[str, str]:
    """Checksum arguments for one request body.

    SHA-256 is what the archive promises; Content-MD5 rides along because servers
    such as Ceph RGW 16 ignore the SHA-256 header but do refuse a wrong MD5.
    """
    return {
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        "ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode("ascii"),
    }


def connect(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    addressing_style: str,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
) -> Any:
    """A boto3 S3 client for these settings; InvalidInput for settings that cannot work."""
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
    if not is_int(max_attempts) or max_attempts < 1:
        raise InvalidInput(f"max_attempts must be a positive integer, got {max_attempts!r}")
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
        return session.client("s3", endpoint_url=endpoint_url, config=config)
    except (BotoCoreError, ValueError) as exc:
        raise InvalidInput(f"cannot configure S3 client: {exc}") from None


def call(bucket: str, action: str, method: Callable[..., Any], /, **kwargs: Any) -> Any:
    """``method(**kwargs)``, its failures as store errors naming ``action``."""
    try:
        return method(**kwargs)
    except ClientError as exc:
        raise translate(bucket, exc, action) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise StoreUnavailable(f"cannot {action}: no usable S3 credentials found") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"cannot {action}: {exc}") from None


def pages(bucket: str, action: str, paginated: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The pages of a paginator, its failures as store errors naming ``action``."""
    try:
        yield from paginated
    except ClientError as exc:
        raise translate(bucket, exc, action) from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"cannot {action}: {exc}") from None


def translate(bucket: str, exc: ClientError, action: str) -> StoreError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = error.get("Message") or code or f"HTTP {status}"
    if code == "NoSuchBucket":
        return StoreUnavailable(f"cannot {action}: bucket {bucket!r} does not exist")
    if code in ("NoSuchKey", "NotFound", "404") or status == 404:
        return KeyMissing(f"cannot {action}: not found")
    if code == "PreconditionFailed" or status == 412:
        return AlreadyCreated(f"cannot {action}: the object already exists")
    if code in _UNAVAILABLE_CODES or status in (401, 403) or (status or 0) >= 500:
        return StoreUnavailable(f"cannot {action}: {code or status}: {message}")
    return StoreError(f"cannot {action}: {code or status}: {message}")


def object_lock_enabled(client: Any, bucket: str) -> bool:
    """Whether the bucket has Object Lock enabled."""
    try:
        response = client.get_object_lock_configuration(Bucket=bucket)
        enabled = response.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
            raise translate(bucket, exc, "read the bucket's Object Lock configuration") from None
        enabled = False
    except BotoCoreError as exc:
        raise StoreUnavailable(f"cannot read Object Lock configuration: {exc}") from None
    return enabled


class BodyReader(io.RawIOBase):
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


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
