"""S3 fixtures (a pytest plugin loaded by tests/conftest.py): one moto server per
session, a fresh bucket per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

# moto accepts any credentials; explicit ones keep the developer's own AWS setup out of it.
MOTO_CREDENTIALS = {
    "region": "us-east-1",
    "access_key_id": "testing",
    "secret_access_key": "testing",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_credentials() -> dict[str, str]:
    return dict(MOTO_CREDENTIALS)


@pytest.fixture(scope="session")
def s3_admin(moto_endpoint: str) -> Any:
    """A plain boto3 client for arranging and inspecting buckets behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=MOTO_CREDENTIALS["region"],
        aws_access_key_id=MOTO_CREDENTIALS["access_key_id"],
        aws_secret_access_key=MOTO_CREDENTIALS["secret_access_key"],
    )


@pytest.fixture
def new_bucket(s3_admin: Any) -> Callable[..., str]:
    def create(object_lock: bool = False) -> str:
        name = f"t-{uuid.uuid4().hex[:24]}"
        if object_lock:
            s3_admin.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            s3_admin.create_bucket(Bucket=name)
        return name

    return create


class S3Backend:
    """One S3 server the contract suite runs against: moto, or a real Ceph RGW."""

    def __init__(self, name: str, endpoint: str, credentials: dict[str, str]) -> None:
        self.name = name
        self.endpoint = endpoint
        self.credentials = credentials
        self.admin = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=credentials["region"],
            aws_access_key_id=credentials["access_key_id"],
            aws_secret_access_key=credentials["secret_access_key"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self, object_lock: bool = False) -> str:
        name = f"t-{uuid.uuid4().hex[:24]}"
        if object_lock:
            self.admin.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            self.admin.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session", params=["moto", pytest.param("rgw", marks=pytest.mark.rgw)])
def s3_backend(request: pytest.FixtureRequest) -> S3Backend:
    """moto always; Ceph RGW when tests/s3server/ceph-rgw.sh has started one
    (CI starts it; OPSLEDGER_REQUIRE_RGW=1 turns its absence into a failure)."""
    if request.param == "moto":
        return S3Backend("moto", request.getfixturevalue("moto_endpoint"), dict(MOTO_CREDENTIALS))
    endpoint = os.environ.get("OPSLEDGER_TEST_S3_ENDPOINT")
    if not endpoint:
        message = "no Ceph RGW running (tests/s3server/ceph-rgw.sh start)"
        if os.environ.get("OPSLEDGER_REQUIRE_RGW") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return S3Backend("rgw", endpoint, {
        "region": "us-east-1",
        "access_key_id": os.environ["OPSLEDGER_TEST_S3_ACCESS_KEY"],
        "secret_access_key": os.environ["OPSLEDGER_TEST_S3_SECRET_KEY"],
    })
