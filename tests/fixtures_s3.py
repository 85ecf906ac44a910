"""S3 fixtures (a pytest plugin loaded by tests/conftest.py): one moto server per
session, a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
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
