"""One contract for every archive store: local folder, S3 bucket, S3 bucket with Object Lock.

Not covered against moto (it accepts wrong checksums and lets COMPLIANCE
retention be shortened): server-side checksum rejection and retention
enforcement. Those need a real server.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.archiver.stores.errors import (
    ArchiveConflict,
    ArchiveNotFound,
    ChecksumMismatch,
    InvalidInput,
    RetentionError,
    StoreError,
    StoreUnavailable,
)
from opsledger.archiver.stores.local import LocalFolderStore
from opsledger.archiver.stores.port import ArchiveStore
from opsledger.archiver.stores.records import DEFAULT_RETENTION_DAYS, location_hash
from opsledger.archiver.stores.s3 import S3ArchiveStore

MiB = 1 << 20
PART = 5 * MiB  # the smallest part size S3 allows

CRASH_MID_UPLOAD = """
import importlib, json, os, sys
spec = json.loads(sys.argv[1])
module, _, cls = spec["factory"].partition(":")
store = getattr(importlib.import_module(module), cls)(*spec["args"], **spec["kwargs"])
writer = store.open_writer(spec["name"])
writer.write(b"x" * spec["size"])
os._exit(9)  # die without any cleanup, as a killed archiver would
"""


def payload(size: int, seed: str = "ticket") -> bytes:
    """Deterministic, non-repeating bytes so a shifted or dropped part changes the hash."""
    block = hashlib.sha512(seed.encode()).digest()
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(block + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def write_in_chunks(store: ArchiveStore, name: str, data: bytes, **options: Any) -> Any:
    # Uneven chunks so part boundaries never line up with write calls.
    with store.open_writer(name, **options) as out:
        offset, step = 0, 1
        while offset < len(data):
            out.write(data[offset : offset + step])
            offset += step
            step = step * 7 + 13 if step < MiB else 3 * MiB + 17
    assert out.result is not None
    return out.result


def read_all(store: ArchiveStore, name: str) -> bytes:
    with store.open_archive(name) as stream:
        chunks = []
        while chunk := stream.read(MiB):
            chunks.append(chunk)
    return b"".join(chunks)


class ArchiveStoreContract:
    """What every archive store promises; subclasses supply the backend."""

    store: ArchiveStore
    expects_retention = False
    expects_legal_hold = False

    # Backend hooks ---------------------------------------------------------------

    def store_recipe(self) -> dict[str, Any]:
        """How another process builds the same store: factory, args, kwargs."""
        raise NotImplementedError

    def dangling_uploads(self, name: str) -> int:
        raise NotImplementedError

    def stored_copies(self, name: str) -> int:
        """How many stored versions of the archive object exist (never more than one)."""
        raise NotImplementedError

    def unavailable_store(self) -> ArchiveStore:
        raise NotImplementedError

    def expected_parts(self, size: int) -> int:
        return 1

    # The contract ----------------------------------------------------------------

    def test_archive_streams_in_and_out_across_several_parts(self) -> None:
        data = payload(2 * PART + 12345)
        seen: list[int] = []
        result = write_in_chunks(self.store, "2026-11-24-T-1001.tar", data, progress=seen.append)

        assert result.sha256 == hashlib.sha256(data).hexdigest()
        assert result.size == len(data)
        assert result.parts == self.expected_parts(len(data))
        assert result.location == self.store.location("2026-11-24-T-1001.tar")
        assert result.reused is False
        assert seen[-1] == len(data) and seen == sorted(seen)
        assert read_all(self.store, "2026-11-24-T-1001.tar") == data

        manifest = b'{"files": 7}'
        self.store.put_manifest("2026-11-24-T-1001.tar", manifest)
        assert self.store.get_manifest("2026-11-24-T-1001.tar") == manifest
        info = self.store.stat("2026-11-24-T-1001.tar")
        assert info.complete and info.size == len(data)
        assert info.location == result.location
        assert info.location_hash == result.location_hash
        assert info.location_hash == location_hash(result.location, result.version_id)

    def test_small_archive_and_empty_archive_go_up_whole(self) -> None:
        assert write_in_chunks(self.store, "small", b"tiny evidence").parts == 1
        assert write_in_chunks(self.store, "empty", b"").size == 0
        assert read_all(self.store, "small") == b"tiny evidence"
        assert read_all(self.store, "empty") == b""

    def test_put_archive_from_a_file_with_known_checksum(self, tmp_path: Path) -> None:
        data = payload(PART + 1)
        source = tmp_path / "bag.tar"
        source.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()

        result = self.store.put_archive("from-file", source, sha256=sha, size=len(data))
        assert (result.sha256, result.size, result.reused) == (sha, len(data), False)
        assert read_all(self.store, "from-file") == data

    def test_source_not_matching_its_checksum_publishes_nothing(self) -> None:
        data = payload(PART + 10)
        with pytest.raises(ChecksumMismatch):
            self.store.put_archive("corrupt", io.BytesIO(data), sha256="0" * 64)
        with pytest.raises(ChecksumMismatch):
            self.store.put_archive(
                "short",
                io.BytesIO(data),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data) + 1,
            )
        for name in ("corrupt", "short"):
            with pytest.raises(ArchiveNotFound):
                self.store.stat(name)
            assert self.dangling_uploads(name) == 0

    def test_existing_archive_is_never_overwritten(self) -> None:
        original = payload(PART + 3, "original")
        write_in_chunks(self.store, "T-7", original)
        self.store.put_manifest("T-7", b"manifest v1")

        with pytest.raises(ArchiveConflict) as refused:
            write_in_chunks(self.store, "T-7", payload(PART + 3, "tampered"))
        assert "\n" not in str(refused.value)
        with pytest.raises(ArchiveConflict):
            self.store.put_archive(
                "T-7", io.BytesIO(b"other"), sha256=hashlib.sha256(b"other").hexdigest()
            )
        with pytest.raises(ArchiveConflict):
            self.store.put_manifest("T-7", b"manifest v2")

        assert read_all(self.store, "T-7") == original
        assert self.store.get_manifest("T-7") == b"manifest v1"
        assert self.stored_copies("T-7") == 1
        assert self.dangling_uploads("T-7") == 0

    def test_rerun_after_crash_before_manifest_completes_without_duplicates(self) -> None:
        data = payload(PART + 99)
        first = write_in_chunks(self.store, "T-42", data)
        # The archiver died here: archive uploaded, manifest never written.
        assert self.store.stat("T-42").complete is False
        assert self.store.get_manifest("T-42") is None

        again = write_in_chunks(self.store, "T-42", data)
        assert again.reused is True
        assert (again.sha256, again.size, again.location_hash) == (
            first.sha256,
            first.size,
            first.location_hash,
        )
        self.store.put_manifest("T-42", b"manifest")
        assert self.store.put_manifest("T-42", b"manifest").reused is True

        assert self.store.stat("T-42").complete is True
        assert self.stored_copies("T-42") == 1
        assert self.dangling_uploads("T-42") == 0

    def test_rerun_with_known_checksum_does_not_read_the_source(self) -> None:
        data = payload(1000)
        first = write_in_chunks(self.store, "T-43", data)

        class Unreadable(io.RawIOBase):
            def readinto(self, buffer: Any) -> int:
                raise AssertionError("source was read although the archive is already stored")

        again = self.store.put_archive("T-43", Unreadable(), sha256=first.sha256, size=len(data))
        assert again.reused is True
        assert again.location_hash == first.location_hash

    def test_upload_killed_midway_is_cleaned_up_by_the_rerun(self) -> None:
        recipe = self.store_recipe()
        spec = {**recipe, "name": "T-99", "size": PART + MiB}
        crashed = subprocess.run(
            [sys.executable, "-c", CRASH_MID_UPLOAD, json.dumps(spec)],
            capture_output=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert crashed.returncode == 9, crashed.stderr.decode()[-2000:]
        assert self.dangling_uploads("T-99") >= 1
        with pytest.raises(ArchiveNotFound):
            self.store.stat("T-99")

        data = payload(PART + MiB)
        assert write_in_chunks(self.store, "T-99", data).reused is False
        assert self.dangling_uploads("T-99") == 0
        assert read_all(self.store, "T-99") == data

    def test_interrupted_writer_leaves_nothing_behind(self) -> None:
        with pytest.raises(KeyboardInterrupt):
            with self.store.open_writer("T-interrupted") as out:
                out.write(payload(PART + 7))
                raise KeyboardInterrupt
        with pytest.raises(ArchiveNotFound):
            self.store.stat("T-interrupted")
        assert self.dangling_uploads("T-interrupted") == 0

    def test_writer_closed_by_a_wrapper_before_commit_publishes_nothing(self) -> None:
        with pytest.raises(StoreError, match="closed before commit"):
            with self.store.open_writer("T-closed") as out:
                out.write(b"partial")
                out.close()
        with pytest.raises(ArchiveNotFound):
            self.store.stat("T-closed")

    def test_manifest_needs_its_archive(self) -> None:
        with pytest.raises(ArchiveNotFound):
            self.store.put_manifest("T-none", b"manifest")
        with pytest.raises(ArchiveNotFound):
            self.store.stat("T-none")

    def test_list_and_stat_tell_sealed_from_incomplete(self) -> None:
        assert list(self.store.list()) == []
        write_in_chunks(self.store, "b-sealed", b"sealed bytes")
        self.store.put_manifest("b-sealed", b"m")
        write_in_chunks(self.store, "a-incomplete", b"no manifest yet")

        listed = {info.name: info for info in self.store.list()}
        assert list(listed) == ["a-incomplete", "b-sealed"]
        assert listed["b-sealed"].complete and listed["b-sealed"].size == len(b"sealed bytes")
        assert not listed["a-incomplete"].complete
        assert (
            listed["a-incomplete"].archive_present and not listed["a-incomplete"].manifest_present
        )
        assert self.store.stat("a-incomplete") == listed["a-incomplete"]

    def test_missing_archive_reads_cleanly(self) -> None:
        with pytest.raises(ArchiveNotFound):
            self.store.open_archive("nothing")
        assert self.store.get_manifest("nothing") is None

    def test_unicode_names_round_trip(self) -> None:
        name = "Ωμέγα-交易-ticket-✓ 2026.tar.zst"
        write_in_chunks(self.store, name, b"unicode")
        self.store.put_manifest(name, "manifest ✓".encode())
        assert read_all(self.store, name) == b"unicode"
        assert self.store.get_manifest(name) == "manifest ✓".encode()
        assert [info.name for info in self.store.list()] == [name]
        assert self.store.stat(name).complete

    @pytest.mark.parametrize(
        "name",
        [
            "",
            " padded",
            "a/b",
            "a\\b",
            ".hidden",
            "x.manifest",
            "nul\x00",
            "line\nbreak",
            "e\u0301",
            "x" * 201,
            42,
        ],
    )
    def test_unusable_names_are_refused(self, name: Any) -> None:
        with pytest.raises(InvalidInput):
            self.store.open_writer(name)
        with pytest.raises(InvalidInput):
            self.store.stat(name)

    def test_bad_checksum_argument_is_refused(self) -> None:
        with pytest.raises(InvalidInput):
            self.store.put_archive("T-1", io.BytesIO(b""), sha256="not-a-sha")
        with pytest.raises(InvalidInput):
            self.store.put_archive("T-1", io.BytesIO(b""), sha256="0" * 64, size=-1)
        with pytest.raises(InvalidInput):
            self.store.put_archive("T-1", "/no/such/source.tar", sha256="0" * 64)
        with pytest.raises(InvalidInput):
            self.store.put_manifest("T-1", "not bytes")  # type: ignore[arg-type]

    def test_retention_is_reported(self) -> None:
        result = write_in_chunks(self.store, "T-retained", payload(PART + 1))
        manifest = self.store.put_manifest("T-retained", b"m")
        info = self.store.stat("T-retained")
        if not self.expects_retention:
            assert result.retention_mode is None and info.retention_mode is None
            assert result.notes and manifest.notes
            return
        now = datetime.now(UTC)
        for retained in (result, manifest, info):
            assert retained.retention_mode == "COMPLIANCE"
            assert retained.retain_until is not None
            assert now + timedelta(days=DEFAULT_RETENTION_DAYS - 1) < retained.retain_until
            assert retained.retain_until < now + timedelta(days=DEFAULT_RETENTION_DAYS + 1)
            assert retained.legal_hold is self.expects_legal_hold
        assert result.notes == ()

    def test_unavailable_store_fails_cleanly(self) -> None:
        store = self.unavailable_store()
        for attempt in (
            lambda: store.stat("T-1"),
            lambda: list(store.list()),
            lambda: store.open_writer("T-1"),
            lambda: store.put_manifest("T-1", b"m"),
        ):
            with pytest.raises(StoreUnavailable) as failed:
                attempt()
            assert "\n" not in str(failed.value)


class TestLocalFolderStore(ArchiveStoreContract):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> None:
        self.root = tmp_path / "opsledger-home" / "archives"
        self.store = LocalFolderStore(self.root)

    def store_recipe(self) -> dict[str, Any]:
        return {
            "factory": "opsledger.archiver.stores.local:LocalFolderStore",
            "args": [str(self.root)],
            "kwargs": {},
        }

    def dangling_uploads(self, name: str) -> int:
        incoming = self.root / ".incoming"
        return len(list(incoming.iterdir())) if incoming.exists() else 0

    def stored_copies(self, name: str) -> int:
        return sum(1 for entry in self.root.iterdir() if entry.name == name)

    def unavailable_store(self) -> ArchiveStore:
        blocker = self.root.parent / "not-a-folder"
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_bytes(b"a file where the archive folder should be")
        return LocalFolderStore(blocker)

    def test_published_files_are_read_only_and_location_is_a_file_uri(self) -> None:
        write_in_chunks(self.store, "T-ro", b"data")
        self.store.put_manifest("T-ro", b"m")
        assert (self.root / "T-ro").stat().st_mode & 0o222 == 0
        assert (self.root / "T-ro.manifest").stat().st_mode & 0o222 == 0
        assert self.store.location("T-ro") == (self.root / "T-ro").as_uri()

    def test_store_is_relative_path_safe(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        store = LocalFolderStore("relative-archives")
        assert store.location("x").startswith("file:///")

    def test_empty_root_is_refused(self) -> None:
        with pytest.raises(InvalidInput):
            LocalFolderStore("")


class S3Contract(ArchiveStoreContract):
    object_lock = False
    legal_hold = False

    @pytest.fixture(autouse=True)
    def _store(self, s3_backend: Any) -> None:
        self.backend = s3_backend.name
        self.endpoint = s3_backend.endpoint
        self.credentials = s3_backend.credentials
        self.admin = s3_backend.admin
        self.bucket = s3_backend.new_bucket(object_lock=self.object_lock)
        self.prefix = "opsledger/archives"
        self.store = self.make_store()

    def options(self, **overrides: Any) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint,
            "part_size": PART,
            "legal_hold": self.legal_hold,
            **self.credentials,
            **overrides,
        }

    def make_store(self, **overrides: Any) -> S3ArchiveStore:
        return S3ArchiveStore(self.bucket, self.prefix, **self.options(**overrides))

    def store_recipe(self) -> dict[str, Any]:
        return {
            "factory": "opsledger.archiver.stores.s3:S3ArchiveStore",
            "args": [self.bucket, self.prefix],
            "kwargs": self.options(),
        }

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def dangling_uploads(self, name: str) -> int:
        uploads = self.admin.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return sum(1 for upload in uploads if upload["Key"] == self.key(name))

    def stored_copies(self, name: str) -> int:
        versions = self.admin.list_object_versions(Bucket=self.bucket, Prefix=self.key(name))
        return sum(1 for v in versions.get("Versions", []) if v["Key"] == self.key(name))

    def expected_parts(self, size: int) -> int:
        return 1 if size <= PART else -(-size // PART)

    def unavailable_store(self) -> ArchiveStore:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        return S3ArchiveStore(
            self.bucket,
            **self.options(
                endpoint_url=f"http://127.0.0.1:{closed_port}", max_attempts=1, connect_timeout=1
            ),
        )

    def test_every_write_is_create_only_and_carries_its_sha256(self) -> None:
        sent: list[tuple[str, dict[str, str]]] = []

        def record(request: Any, event_name: str, **_: Any) -> None:
            headers = {
                k.lower(): (v.decode() if isinstance(v, bytes) else v)
                for k, v in request.headers.items()
            }
            sent.append((event_name.rsplit(".", 1)[-1], headers))

        self.store._client.meta.events.register("before-send.s3", record)  # type: ignore[attr-defined]
        data = payload(2 * PART + 1)
        write_in_chunks(self.store, "T-sums", data)
        self.store.put_manifest("T-sums", b"manifest")

        # Over plain HTTP, SigV4 signs the payload: x-amz-content-sha256 is the SDK's own
        # hex digest of the body, an independent witness for the checksum we computed.
        uploads = [h for op, h in sent if op in ("UploadPart", "PutObject")]
        assert len(uploads) == 4
        for headers in uploads:
            witness = bytes.fromhex(headers["x-amz-content-sha256"])
            assert headers["x-amz-checksum-sha256"] == base64.b64encode(witness).decode()
        assert all(headers.get("content-md5") for headers in uploads)
        (manifest_put,) = [h for op, h in sent if op == "PutObject"]
        assert (
            manifest_put["content-md5"]
            == base64.b64encode(hashlib.md5(b"manifest").digest()).decode()
        )
        creates = [h for op, h in sent if op in ("PutObject", "CompleteMultipartUpload")]
        assert [h.get("if-none-match") for h in creates] == ["*", "*"]
        head = self.admin.head_object(Bucket=self.bucket, Key=self.key("T-sums"))
        assert head["ETag"].strip('"').endswith("-3")

    def test_missing_bucket_is_unavailable(self) -> None:
        store = S3ArchiveStore("no-such-bucket-anywhere", **self.options())
        for attempt in (
            lambda: store.stat("T-1"),
            lambda: list(store.list()),
            lambda: store.open_writer("T-1"),
        ):
            with pytest.raises(StoreUnavailable, match="does not exist"):
                attempt()

    def test_foreign_keys_under_the_prefix_are_ignored(self) -> None:
        self.admin.put_object(Bucket=self.bucket, Key=self.key("deeper/folder/x"), Body=b"x")
        self.admin.put_object(Bucket=self.bucket, Key="elsewhere/T-1", Body=b"x")
        write_in_chunks(self.store, "T-1", b"ours")
        assert [info.name for info in self.store.list()] == ["T-1"]

    def test_settings_are_validated(self) -> None:
        for bad in (
            {"part_size": PART - 1},
            {"retention_days": 0},
            {"retention_days": True},
            {"access_key_id": "only-half", "secret_access_key": None},
            {"endpoint_url": "ftp://example"},
            {"addressing_style": "sideways"},
            {"connect_timeout": "soon"},
            {"read_timeout": 0},
            {"max_attempts": 0},
            {"access_key_id": None, "secret_access_key": None, "session_token": "t"},
        ):
            with pytest.raises(InvalidInput):
                self.make_store(**bad)
        with pytest.raises(InvalidInput):
            S3ArchiveStore("x", **self.options())
        with pytest.raises(InvalidInput):
            S3ArchiveStore.from_uri("https://bucket/prefix")

    def test_store_built_from_uri_shares_the_layout(self) -> None:
        write_in_chunks(self.store, "T-uri", b"data")
        twin = S3ArchiveStore.from_uri(f"s3://{self.bucket}/{self.prefix}/", **self.options())
        assert twin.location("T-uri") == f"s3://{self.bucket}/{self.prefix}/T-uri"
        assert read_all(twin, "T-uri") == b"data"


class TestS3Store(S3Contract):
    def test_object_lock_required_but_missing_writes_nothing(self) -> None:
        strict = self.make_store(require_object_lock=True)
        with pytest.raises(RetentionError, match="no Object Lock"):
            strict.open_writer("T-strict")
        with pytest.raises(ArchiveNotFound):
            self.store.stat("T-strict")
        notes = write_in_chunks(self.store, "T-lenient", b"data").notes
        assert any("retention not applied" in note for note in notes)


class TestS3ObjectLockStore(S3Contract):
    object_lock = True
    legal_hold = True
    expects_retention = True
    expects_legal_hold = True

    def test_server_holds_retention_and_legal_hold_on_both_objects(self) -> None:
        result = write_in_chunks(self.store, "T-held", payload(PART + 5))
        self.store.put_manifest("T-held", b"m")
        assert result.version_id
        assert result.location_hash == location_hash(result.location, result.version_id)
        for key in (self.key("T-held"), self.key("T-held") + ".manifest"):
            # Read back with a plain client (moto 5.2 answers GetObjectRetention with a 500).
            head = self.admin.head_object(Bucket=self.bucket, Key=key)
            assert head["ObjectLockMode"] == "COMPLIANCE"
            assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=2000)
            assert self.admin.get_object_legal_hold(Bucket=self.bucket, Key=key)["LegalHold"] == {
                "Status": "ON"
            }

    def test_racing_writer_on_a_server_ignoring_if_none_match_blocks_sealing(self) -> None:
        # What Ceph RGW 16 does in a versioned bucket: If-None-Match is dropped, so a
        # writer that got in first leaves its version under ours instead of refusing ours.
        def race(params: dict[str, Any], **_: Any) -> None:
            params.pop("IfNoneMatch", None)
            self.admin.put_object(Bucket=self.bucket, Key=params["Key"], Body=b"the other writer")

        events = self.store._client.meta.events  # type: ignore[attr-defined]
        events.register("provide-client-params.s3.PutObject", race, unique_id="race")
        with pytest.raises(ArchiveConflict, match="2 versions"):
            write_in_chunks(self.store, "T-race", b"ours")
        events.unregister("provide-client-params.s3.PutObject", unique_id="race")

        with pytest.raises(ArchiveConflict, match="2 versions"):
            write_in_chunks(self.store, "T-race", b"ours")
        assert self.store.stat("T-race").complete is False

    def test_retention_period_is_configurable(self) -> None:
        store = self.make_store(retention_days=30, legal_hold=False)
        result = write_in_chunks(store, "T-30d", b"short-lived evidence")
        now = datetime.now(UTC)
        assert result.retain_until is not None
        assert now + timedelta(days=29) < result.retain_until < now + timedelta(days=31)
        assert result.legal_hold is False

    def test_strict_policy_is_satisfied(self) -> None:
        strict = self.make_store(require_object_lock=True)
        assert write_in_chunks(strict, "T-strict", b"data").retention_mode == "COMPLIANCE"


def test_local_and_s3_locations_hash_differently_per_version() -> None:
    assert location_hash("s3://b/k") != location_hash("s3://b/k", "v1")
    assert location_hash("s3://b/k", "v1") == hashlib.sha256(b"s3://b/k?versionId=v1").hexdigest()


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The adapters take every setting as an argument; these must not matter.
    for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(variable, raising=False)
