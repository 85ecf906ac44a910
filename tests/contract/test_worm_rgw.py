"""A sealed archive is WORM on a real Ceph RGW: sealed through ``S3ArchiveStore``,
then attacked with a plain admin client holding the same credentials.

Before its retain-until date the locked version of the archive and of its
detached manifest cannot be deleted, its COMPLIANCE retention cannot be
shortened or weakened, and an overwrite either is refused by the store
(create-only) or, from a raw client, only adds a newer version while the
sealed version keeps returning the sealed bytes. A multipart-sized archive
(RGW drops lock headers on multipart uploads; the store re-applies retention)
ends up just as locked.

Only the rgw backend: moto lets COMPLIANCE retention be shortened, so it
proves nothing here. Locked objects outlive the test by the retention (one
day); the RGW under test is throw-away (tests/s3server/ceph-rgw.sh).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from opsledger.archiver.builder.bag import build_bag
from opsledger.archiver.stores.errors import ArchiveConflict
from opsledger.archiver.stores.records import MANIFEST_SUFFIX, PutResult
from opsledger.archiver.stores.s3 import S3ArchiveStore

MiB = 1 << 20
RETENTION_DAYS = 1
NAME = "OPS-9-2024-05-01.tar.zst"


@pytest.fixture
def rgw(s3_backend: Any) -> Any:
    if s3_backend.name != "rgw":
        pytest.skip("moto lets COMPLIANCE retention be shortened: WORM is proven on Ceph RGW only")
    return s3_backend


@dataclass
class Sealed:
    store: S3ArchiveStore
    bucket: str
    key: str
    archive: bytes
    manifest: bytes
    archive_result: PutResult
    manifest_result: PutResult

    @property
    def manifest_key(self) -> str:
        return self.key + MANIFEST_SUFFIX


def _store(backend: Any, bucket: str, part_size: int = 5 * MiB) -> S3ArchiveStore:
    credentials = backend.credentials
    return S3ArchiveStore(
        bucket,
        "sealed",
        endpoint_url=backend.endpoint,
        region=credentials["region"],
        access_key_id=credentials["access_key_id"],
        secret_access_key=credentials["secret_access_key"],
        retention_days=RETENTION_DAYS,
        part_size=part_size,
        addressing_style="path",
        max_attempts=1,  # a refusal must show as the refusal, not as retries
    )


def _bag(tmp_path: Path, payload: bytes = b"") -> tuple[bytes, bytes]:
    src = tmp_path / "session"
    src.mkdir()
    (src / "deploy.log").write_text("".join(f"09:{i:02d} deploy step {i}\n" for i in range(40)))
    if payload:
        (src / "capture.bin").write_bytes(payload)
    out = io.BytesIO()
    result = build_bag(src, out, ticket_key="OPS-9", session_date="2024-05-01",
                       bagging_date="2024-05-02", level=1)
    return out.getvalue(), result.detached_manifest


def _seal(backend: Any, tmp_path: Path, payload: bytes = b"") -> Sealed:
    bucket = backend.new_bucket(object_lock=True)
    store = _store(backend, bucket)
    archive, manifest = _bag(tmp_path, payload)
    archive_result = store.put_archive(NAME, io.BytesIO(archive),
                                       sha256=hashlib.sha256(archive).hexdigest(),
                                       size=len(archive))
    manifest_result = store.put_manifest(NAME, manifest)
    return Sealed(store, bucket, f"sealed/{NAME}", archive, manifest,
                  archive_result, manifest_result)


def _refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _assert_locked(result: PutResult) -> None:
    assert result.retention_mode == "COMPLIANCE"
    assert result.version_id
    now = datetime.now(UTC)
    # Loose bounds: a day's retention, whatever the clocks of this host and RGW say.
    assert result.retain_until is not None
    assert now + timedelta(hours=12) < result.retain_until < now + timedelta(days=2)


def _assert_undeletable(admin: Any, bucket: str, key: str, version: str) -> None:
    with pytest.raises(ClientError) as refused:
        admin.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert _refusal(refused) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as refused:
        admin.delete_object(Bucket=bucket, Key=key, VersionId=version,
                            BypassGovernanceRetention=True)
    assert _refusal(refused) == ("AccessDenied", 403)
    batch = admin.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": key, "VersionId": version}]})
    assert not batch.get("Deleted")
    assert [e["Code"] for e in batch.get("Errors", [])] == ["AccessDenied"]


def _assert_retention_fixed(admin: Any, bucket: str, key: str, version: str) -> None:
    before = admin.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    assert before["Mode"] == "COMPLIANCE"
    shorter = before["RetainUntilDate"] - timedelta(hours=12)
    for attempt in (
        {"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": shorter}},
        {"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": shorter},
         "BypassGovernanceRetention": True},
        {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": before["RetainUntilDate"]}},
    ):
        with pytest.raises(ClientError) as refused:
            admin.put_object_retention(Bucket=bucket, Key=key, VersionId=version, **attempt)
        assert _refusal(refused) == ("AccessDenied", 403), attempt
    after = admin.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    assert after == before


def _assert_overwrite_only_adds_a_version(
    admin: Any, bucket: str, key: str, version: str, original: bytes
) -> None:
    replaced = admin.put_object(Bucket=bucket, Key=key, Body=b"tampered")
    assert replaced["VersionId"] != version
    assert admin.get_object(Bucket=bucket, Key=key)["Body"].read() == b"tampered"
    kept = admin.get_object(Bucket=bucket, Key=key, VersionId=version)
    body = kept["Body"].read()
    assert body == original
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(original).hexdigest()
    assert kept["ObjectLockMode"] == "COMPLIANCE"
    # A delete marker hides the key but removes nothing: the sealed version still reads back.
    admin.delete_object(Bucket=bucket, Key=key)
    assert admin.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == original
    _assert_undeletable(admin, bucket, key, version)


def test_sealed_archive_and_manifest_carry_compliance_retention(rgw, tmp_path):
    sealed = _seal(rgw, tmp_path)
    assert sealed.archive_result.parts == 1
    _assert_locked(sealed.archive_result)
    _assert_locked(sealed.manifest_result)
    head = rgw.admin.head_object(Bucket=sealed.bucket, Key=sealed.key,
                                 VersionId=sealed.archive_result.version_id)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ContentLength"] == len(sealed.archive)


def test_locked_archive_version_cannot_be_deleted(rgw, tmp_path):
    sealed = _seal(rgw, tmp_path)
    _assert_undeletable(rgw.admin, sealed.bucket, sealed.key, sealed.archive_result.version_id)
    with sealed.store.open_archive(NAME) as stored:
        assert stored.read() == sealed.archive


def test_locked_archive_retention_cannot_be_shortened(rgw, tmp_path):
    sealed = _seal(rgw, tmp_path)
    _assert_retention_fixed(rgw.admin, sealed.bucket, sealed.key,
                            sealed.archive_result.version_id)


def test_overwriting_the_archive_is_refused_or_only_adds_a_version(rgw, tmp_path):
    sealed = _seal(rgw, tmp_path)
    other = sealed.archive + b"appended"
    with pytest.raises(ArchiveConflict):
        sealed.store.put_archive(NAME, io.BytesIO(other),
                                 sha256=hashlib.sha256(other).hexdigest(), size=len(other))
    # Same size, different bytes: the store compares content, not just length.
    flipped = bytes([sealed.archive[0] ^ 1]) + sealed.archive[1:]
    with pytest.raises(ArchiveConflict):
        sealed.store.put_archive(NAME, io.BytesIO(flipped),
                                 sha256=hashlib.sha256(flipped).hexdigest(), size=len(flipped))
    versions = rgw.admin.list_object_versions(Bucket=sealed.bucket, Prefix=sealed.key)
    assert [v["VersionId"] for v in versions["Versions"] if v["Key"] == sealed.key] == [
        sealed.archive_result.version_id]

    _assert_overwrite_only_adds_a_version(rgw.admin, sealed.bucket, sealed.key,
                                          sealed.archive_result.version_id, sealed.archive)


def test_tampered_name_is_not_blessed_by_a_rerun(rgw, tmp_path):
    sealed = _seal(rgw, tmp_path)
    rgw.admin.put_object(Bucket=sealed.bucket, Key=sealed.key, Body=b"tampered")
    with pytest.raises(ArchiveConflict):
        sealed.store.put_archive(NAME, io.BytesIO(sealed.archive),
                                 sha256=hashlib.sha256(sealed.archive).hexdigest(),
                                 size=len(sealed.archive))


def test_detached_manifest_is_as_locked_as_the_archive(rgw, tmp_path):
    sealed = _seal(rgw, tmp_path)
    version = sealed.manifest_result.version_id
    assert sealed.store.put_manifest(NAME, sealed.manifest).reused  # same bytes: a no-op
    with pytest.raises(ArchiveConflict):
        sealed.store.put_manifest(NAME, sealed.manifest.replace(b"OPS-9", b"OPS-8", 1))
    _assert_undeletable(rgw.admin, sealed.bucket, sealed.manifest_key, version)
    _assert_retention_fixed(rgw.admin, sealed.bucket, sealed.manifest_key, version)
    _assert_overwrite_only_adds_a_version(rgw.admin, sealed.bucket, sealed.manifest_key,
                                          version, sealed.manifest)


def test_multipart_archive_is_locked_after_the_store_repairs_retention(rgw, tmp_path):
    # Incompressible, so the archive exceeds one 5 MiB part and goes up in two.
    sealed = _seal(rgw, tmp_path, payload=os.urandom(6 * MiB))
    assert len(sealed.archive) > 5 * MiB
    assert sealed.archive_result.parts == 2
    _assert_locked(sealed.archive_result)
    version = sealed.archive_result.version_id
    head = rgw.admin.head_object(Bucket=sealed.bucket, Key=sealed.key, VersionId=version)
    assert head["ETag"].endswith('-2"')  # really a multipart object
    assert head["ObjectLockMode"] == "COMPLIANCE"
    _assert_undeletable(rgw.admin, sealed.bucket, sealed.key, version)
    _assert_retention_fixed(rgw.admin, sealed.bucket, sealed.key, version)
    kept = rgw.admin.get_object(Bucket=sealed.bucket, Key=sealed.key, VersionId=version)
    assert hashlib.sha256(kept["Body"].read()).hexdigest() == sealed.archive_result.sha256
