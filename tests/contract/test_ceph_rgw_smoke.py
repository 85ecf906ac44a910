"""Smoke test: the real S3 server (Ceph RGW 16, tests/s3server/ceph-rgw.sh) refuses what moto lets by.

The S3 blob-store contract suite is only worth running against this server if the
server enforces the guarantees the archive relies on: SigV4, Content-MD5 and
Object Lock in COMPLIANCE mode. This file proves those, and pins down the
conditional-write and checksum behaviour of RGW 16 that differs from AWS, so
that a server upgrade which changes it fails here first (see
tests/s3server/README.md).

Runs only when OPSLEDGER_TEST_S3_ENDPOINT is set (`eval "$(ceph-rgw.sh start)"`).
Locked objects cannot be removed for a day, so buckets are left behind: the
server is throw-away (memstore, wiped by `ceph-rgw.sh stop`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("OPSLEDGER_TEST_S3_ENDPOINT", "")

pytestmark = pytest.mark.skipif(
    not ENDPOINT,
    reason="OPSLEDGER_TEST_S3_ENDPOINT not set (start tests/s3server/ceph-rgw.sh)",
)


def _client(secret_key: str | None = None):
    access_key = os.environ.get("OPSLEDGER_TEST_S3_ACCESS_KEY")
    real_secret = os.environ.get("OPSLEDGER_TEST_S3_SECRET_KEY")
    if not access_key or not real_secret:
        pytest.fail(
            "OPSLEDGER_TEST_S3_ENDPOINT is set but OPSLEDGER_TEST_S3_ACCESS_KEY or "
            "OPSLEDGER_TEST_S3_SECRET_KEY is not; source <rundir>/env"
        )
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key or real_secret,
        region_name="us-east-1",
        # A refusal must surface as the refusal, not as a retried request.
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _versions(s3, bucket: str, key: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key]


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture(scope="module")
def s3():
    return _client()


@pytest.fixture
def locked_bucket(s3) -> Iterator[str]:
    name = f"opsledger-smoke-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name


@pytest.fixture
def plain_bucket(s3) -> Iterator[str]:
    name = f"opsledger-smoke-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    for version in s3.list_object_versions(Bucket=name).get("Versions", []):
        s3.delete_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=name)


def _put_locked(s3, bucket: str, key: str, body: bytes) -> tuple[str, datetime]:
    # RGW keeps whole seconds; dropping the fraction lets the date round-trip exactly.
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    return response["VersionId"], until


def test_object_lock_bucket_is_versioned_and_locked(s3, locked_bucket):
    lock = s3.get_object_lock_configuration(Bucket=locked_bucket)
    assert lock["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=locked_bucket)["Status"] == "Enabled"


def test_compliance_retention_cannot_be_shortened_or_weakened(s3, locked_bucket):
    version, until = _put_locked(s3, locked_bucket, "segments/0001", b"sealed segment")
    retention = s3.get_object_retention(
        Bucket=locked_bucket, Key="segments/0001", VersionId=version
    )
    assert retention["Retention"] == {"Mode": "COMPLIANCE", "RetainUntilDate": until}

    shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(hours=12)}
    with pytest.raises(ClientError) as refused:
        s3.put_object_retention(
            Bucket=locked_bucket, Key="segments/0001", VersionId=version, Retention=shorter
        )
    assert _error(refused) == ("AccessDenied", 403)

    # The governance bypass header must not unlock COMPLIANCE either.
    with pytest.raises(ClientError) as refused:
        s3.put_object_retention(
            Bucket=locked_bucket,
            Key="segments/0001",
            VersionId=version,
            Retention=shorter,
            BypassGovernanceRetention=True,
        )
    assert _error(refused) == ("AccessDenied", 403)

    with pytest.raises(ClientError) as refused:
        s3.put_object_retention(
            Bucket=locked_bucket,
            Key="segments/0001",
            VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
        )
    assert _error(refused) == ("AccessDenied", 403)

    retention = s3.get_object_retention(
        Bucket=locked_bucket, Key="segments/0001", VersionId=version
    )
    assert retention["Retention"] == {"Mode": "COMPLIANCE", "RetainUntilDate": until}


def test_locked_version_cannot_be_deleted(s3, locked_bucket):
    version, _ = _put_locked(s3, locked_bucket, "segments/0002", b"sealed segment")

    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=locked_bucket, Key="segments/0002", VersionId=version)
    assert _error(refused) == ("AccessDenied", 403)

    with pytest.raises(ClientError) as refused:
        s3.delete_object(
            Bucket=locked_bucket,
            Key="segments/0002",
            VersionId=version,
            BypassGovernanceRetention=True,
        )
    assert _error(refused) == ("AccessDenied", 403)

    batch = s3.delete_objects(
        Bucket=locked_bucket, Delete={"Objects": [{"Key": "segments/0002", "VersionId": version}]}
    )
    assert [(e["VersionId"], e["Code"]) for e in batch.get("Errors", [])] == [
        (version, "AccessDenied")
    ]
    assert not batch.get("Deleted")

    body = s3.get_object(Bucket=locked_bucket, Key="segments/0002", VersionId=version)["Body"]
    assert body.read() == b"sealed segment"


def test_overwrite_adds_a_version_and_the_locked_bytes_survive(s3, locked_bucket):
    original = b"manifest v1: 7 artefacts"
    locked_version, _ = _put_locked(s3, locked_bucket, "manifest.json", original)

    replaced = s3.put_object(Bucket=locked_bucket, Key="manifest.json", Body=b"tampered")
    assert replaced["VersionId"] != locked_version

    assert s3.get_object(Bucket=locked_bucket, Key="manifest.json")["Body"].read() == b"tampered"
    kept = s3.get_object(Bucket=locked_bucket, Key="manifest.json", VersionId=locked_version)
    assert hashlib.sha256(kept["Body"].read()).digest() == hashlib.sha256(original).digest()
    assert set(_versions(s3, locked_bucket, "manifest.json")) == {
        locked_version,
        replaced["VersionId"],
    }


def test_sigv4_with_a_wrong_secret_is_refused(s3, plain_bucket):
    forger = _client(secret_key="not-the-secret-" + uuid.uuid4().hex)

    with pytest.raises(ClientError) as refused:
        forger.list_objects_v2(Bucket=plain_bucket)
    assert _error(refused) == ("SignatureDoesNotMatch", 403)

    with pytest.raises(ClientError) as refused:
        forger.put_object(Bucket=plain_bucket, Key="forged", Body=b"x")
    assert _error(refused) == ("SignatureDoesNotMatch", 403)
    assert s3.list_objects_v2(Bucket=plain_bucket).get("KeyCount") == 0


def test_wrong_content_md5_is_refused(s3, plain_bucket):
    with pytest.raises(ClientError) as refused:
        s3.put_object(
            Bucket=plain_bucket, Key="segment", Body=b"sent bytes", ContentMD5=_md5_b64(b"other")
        )
    assert _error(refused) == ("BadDigest", 400)
    assert s3.list_objects_v2(Bucket=plain_bucket).get("KeyCount") == 0

    s3.put_object(
        Bucket=plain_bucket, Key="segment", Body=b"sent bytes", ContentMD5=_md5_b64(b"sent bytes")
    )
    assert s3.get_object(Bucket=plain_bucket, Key="segment")["Body"].read() == b"sent bytes"


def test_if_none_match_star_is_honoured_only_in_unversioned_buckets(
    s3, plain_bucket, locked_bucket
):
    """RGW 16 checks If-None-Match against the new version's own object in a
    versioned bucket, which never exists, so create-only writes there succeed."""
    s3.put_object(Bucket=plain_bucket, Key="head", Body=b"first")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=plain_bucket, Key="head", Body=b"second", IfNoneMatch="*")
    assert _error(refused) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=plain_bucket, Key="head")["Body"].read() == b"first"

    s3.put_object(Bucket=locked_bucket, Key="head", Body=b"first")
    second = s3.put_object(Bucket=locked_bucket, Key="head", Body=b"second", IfNoneMatch="*")
    assert s3.get_object(Bucket=locked_bucket, Key="head")["Body"].read() == b"second"
    assert len(_versions(s3, locked_bucket, "head")) == 2
    assert second["VersionId"] in _versions(s3, locked_bucket, "head")


def test_if_match_only_accepts_an_unquoted_etag(s3, plain_bucket):
    """S3 returns ETags quoted and boto3 sends them back as given; RGW 16
    compares against the unquoted value, so the usual compare-and-swap fails."""
    etag = s3.put_object(Bucket=plain_bucket, Key="head", Body=b"first")["ETag"]
    assert etag.startswith('"')

    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=plain_bucket, Key="head", Body=b"second", IfMatch=etag)
    assert _error(refused) == ("PreconditionFailed", 412)

    s3.put_object(Bucket=plain_bucket, Key="head", Body=b"third", IfMatch=etag.strip('"'))
    assert s3.get_object(Bucket=plain_bucket, Key="head")["Body"].read() == b"third"

    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=plain_bucket, Key="head", Body=b"fourth", IfMatch="0" * 32)
    assert _error(refused) == ("PreconditionFailed", 412)


def test_wrong_checksum_sha256_is_ignored(s3, plain_bucket):
    """AWS would answer BadDigest; RGW 16 neither checks nor stores the checksum,
    so integrity on this server rests on Content-MD5 and our own digests."""
    sent = b"segment bytes"
    s3.put_object(
        Bucket=plain_bucket, Key="segment", Body=sent, ChecksumSHA256=_sha256_b64(b"other bytes")
    )
    stored = s3.get_object(Bucket=plain_bucket, Key="segment", ChecksumMode="ENABLED")
    assert stored["Body"].read() == sent
    assert "ChecksumSHA256" not in stored


def test_multipart_upload_drops_lock_headers_until_retention_is_set_afterwards(s3, locked_bucket):
    """RGW 16 accepts Object Lock headers on CreateMultipartUpload but the
    completed version carries no retention or legal hold, and the Complete
    answer has an empty ETag; applying both afterwards does lock it."""
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    upload = s3.create_multipart_upload(
        Bucket=locked_bucket,
        Key="archive.tar.zst",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
    )
    parts = []
    for number, data in enumerate([b"\0" * (5 * 1024 * 1024), b"tail"], start=1):
        part = s3.upload_part(
            Bucket=locked_bucket,
            Key="archive.tar.zst",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=data,
            ContentMD5=_md5_b64(data),
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=locked_bucket,
        Key="archive.tar.zst",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    assert done["ETag"] == ""
    version = done["VersionId"]
    head = s3.head_object(Bucket=locked_bucket, Key="archive.tar.zst", VersionId=version)
    assert head["ETag"].endswith('-2"')
    assert "ObjectLockMode" not in head and "ObjectLockLegalHoldStatus" not in head

    s3.put_object_retention(
        Bucket=locked_bucket,
        Key="archive.tar.zst",
        VersionId=version,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
    )
    s3.put_object_legal_hold(
        Bucket=locked_bucket,
        Key="archive.tar.zst",
        VersionId=version,
        LegalHold={"Status": "ON"},
    )
    head = s3.head_object(Bucket=locked_bucket, Key="archive.tar.zst", VersionId=version)
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=locked_bucket, Key="archive.tar.zst", VersionId=version)
    assert _error(refused) == ("AccessDenied", 403)
