"""Object Lock on the S3 store's bucket: COMPLIANCE retention and legal hold.

Retention is asked for on every create, read back after it, and applied
explicitly when the server dropped the create headers; a name holding more
than one version is refused. A mixin of ``S3ArchiveStore``, which provides
the client calls (``_call``, ``_head``, ``_uri``, ``_ensure_bucket``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from opsledger.archiver.stores.errors import ArchiveConflict, RetentionError
from opsledger.archiver.stores.s3client import object_lock_enabled, pages


class ObjectLockPolicy:
    bucket: str
    retention_days: int
    legal_hold: bool
    require_object_lock: bool
    _client: Any
    _lock_enabled: bool | None
    _call: Callable[..., Any]
    _head: Callable[[str], dict[str, Any] | None]
    _uri: Callable[[str], str]
    _ensure_bucket: Callable[[], None]

    def _object_lock_enabled(self) -> bool:
        self._ensure_bucket()
        if self._lock_enabled is None:
            enabled = object_lock_enabled(self._client, self.bucket)
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
        action = f"list the versions of {self._uri(key)}"
        for page in pages(self.bucket, action, paginator.paginate(Bucket=self.bucket, Prefix=key)):
            versions += sum(1 for v in page.get("Versions", []) if v.get("Key") == key)
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
