"""The secret scan inside the bag build: one read of each file, a secret stops
the seal before anything is published, compressed logs are read through."""

from __future__ import annotations

import builtins
import gzip
import io
import os
import tarfile
from pathlib import Path

import opsledger.archiver.payload as payload_stage
import pytest
import zstandard
from opsledger.archiver.builder.bag import build_bag
from opsledger.archiver.builder.seal import SealRequest, seal, seal_redacting
from opsledger.archiver.secrets.rules import fingerprint
from opsledger.archiver.secrets.scanner import SecretsFoundError, SecretsNotRedactableError
from opsledger.archiver.stores.local import LocalFolderStore
from opsledger.archiver.verify.verifier import verify_archive

AWS = "AKIAIOSFODNN7EXAMPLE"
AWS_FP = fingerprint(AWS.encode())  # keyed: no character of the key
SMALL_CHUNK = 64 << 10  # the smallest chunk the build takes: many cuts in a small file


def log_lines(n: int, start: int = 0) -> str:
    return "".join(f"2026-11-24T10:00:{i % 60:02d}Z INFO order filled seq={start + i}\n"
                   for i in range(n))


def session(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "deploy.log").write_text(log_lines(5000))
    (root / "metrics").mkdir()
    (root / "metrics" / "m1.json").write_text('{"series": []}\n')
    return root


def tar_gz(members: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in members.items():
            data = text.encode() if isinstance(text, str) else text
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(src: Path, out: io.BytesIO | None = None, **kw):
    return build_bag(src, out or io.BytesIO(), ticket_key="OPS-7", session_date="2024-05-01",
                     bagging_date="2024-05-02", scan_secrets=True, **kw)


def request(src: Path, **kw) -> SealRequest:
    return SealRequest(ticket_key="OPS-7", session_date="2024-05-01", source_dir=src, **kw)


def test_a_clean_build_reads_each_payload_file_once(tmp_path, monkeypatch):
    src = session(tmp_path / "s")
    (src / "logs_1.tar.gz").write_bytes(tar_gz({"logs/app.log": log_lines(3000)}))
    (src / "big.log").write_text(log_lines(40_000))  # several chunks
    opened: list[str] = []
    file_of: dict[int, str] = {}  # descriptors are reused: the latest open names it
    read_bytes: dict[str, int] = {}
    real_open, real_readv, real_builtin_open = os.open, os.readv, builtins.open

    def counting_open(path, flags, *args, **kw):
        fd = real_open(path, flags, *args, **kw)
        if str(path).startswith(str(src)):
            opened.append(str(path))
            file_of[fd] = str(path)
        return fd

    def counting_readv(fd, buffers):
        n = real_readv(fd, buffers)
        read_bytes[file_of[fd]] = read_bytes.get(file_of[fd], 0) + n
        return n

    def no_other_reader(file, *args, **kw):
        assert not str(file).startswith(str(src)), f"{file} opened a second time"
        return real_builtin_open(file, *args, **kw)

    monkeypatch.setattr(payload_stage.os, "open", counting_open)
    monkeypatch.setattr(payload_stage.os, "readv", counting_readv)
    monkeypatch.setattr(builtins, "open", no_other_reader)
    result = build(src, chunk_size=SMALL_CHUNK)
    payload = sorted(str(p) for p in src.rglob("*") if p.is_file())
    assert sorted(opened) == payload  # each file opened once, by the reader
    assert read_bytes == {p: Path(p).stat().st_size for p in payload}  # and read through once
    scan = result.secret_scan
    assert scan is not None and scan.findings == [] and scan.skipped == []
    assert {f.path: f.compressed for f in scan.files}["logs_1.tar.gz"] == "gzip"


def test_a_secret_across_a_chunk_boundary_refuses_with_its_line(tmp_path):
    src = session(tmp_path / "s")
    head = log_lines(2000)
    pad = "x" * (SMALL_CHUNK - len(head.encode()) - 10)  # the key straddles the first cut
    (src / "settle.log").write_text(head + pad + f" key {AWS} used\n" + log_lines(10))
    out = io.BytesIO()
    deferred: list[int] = []
    with pytest.raises(SecretsFoundError) as info:
        build(src, out, chunk_size=SMALL_CHUNK, deferred_tags=lambda _payload: deferred.append(1) or ([], {}))
    assert deferred == []  # no tag file (no ledger proof) for a refused payload
    [finding] = info.value.findings
    assert (finding.path, finding.kind, finding.line) == ("settle.log", "aws-access-key", 0)
    assert finding.offset == len(head.encode()) + len(pad) + 5
    assert AWS not in str(info.value)
    assert not verify_archive(io.BytesIO(out.getvalue())).ok  # an unfinished frame at most


def test_a_refused_seal_leaves_nothing_in_the_store_and_names_the_line(tmp_path):
    src = session(tmp_path / "s")
    (src / "deploy.log").write_text(log_lines(30_000) + f"export AWS_KEY={AWS}\n")
    store = LocalFolderStore(tmp_path / "store", fsync=False)
    with pytest.raises(SecretsFoundError) as info:
        seal(store, request(src))
    assert [str(f) for f in info.value.findings] == [
        f"deploy.log:30001: aws-access-key ({AWS_FP})"]
    assert "--redact" in str(info.value)
    assert list(store.list()) == []
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def test_redacting_seals_copies_and_hands_the_redactions_over_first(tmp_path):
    src = session(tmp_path / "s")
    original = log_lines(100) + f"key {AWS} used\n"
    (src / "deploy.log").write_text(original)
    store = LocalFolderStore(tmp_path / "store", fsync=False)
    handed = []

    def redacted(redactions):
        handed.append(redactions)
        return request(src, bag_info=[("Opsledger-Redacted", str(len(redactions)))])

    sealed, redactions = seal_redacting(store, request(src), redacted)
    assert handed == [redactions]
    [r] = redactions
    assert (r.path, [(f.line, f.kind) for f in r.findings]) == (
        "deploy.log", [(101, "aws-access-key")])
    assert (src / "deploy.log").read_text() == original  # the session folder is untouched
    assert not [p for p in tmp_path.iterdir() if ".redacted-" in p.name]
    stream = store.open_archive(sealed.name)
    try:
        report = verify_archive(stream, detached_manifest=store.get_manifest(sealed.name))
    finally:
        stream.close()
    assert report.ok
    assert ("Opsledger-Redacted", "1") in report.bag_info
    assert report.files["data/deploy.log"].sha256 == r.redacted_sha256 != r.original_sha256


@pytest.mark.parametrize("packing", ["tar.gz", "gz", "zst", "gz in tar.gz"])
def test_a_secret_inside_a_compressed_log_refuses_naming_the_member_and_line(tmp_path, packing):
    src = session(tmp_path / "s")
    text = log_lines(2) + f"AWS_ACCESS_KEY_ID={AWS}\n" + log_lines(50_000)
    if packing == "tar.gz":
        name, member = "logs_20261124.tar.gz", "logs/deploy.log"
        (src / name).write_bytes(tar_gz({"logs/clean.log": log_lines(10), member: text}))
    elif packing == "gz":
        name, member = "deploy.log.gz", "deploy.log"
        (src / name).write_bytes(gzip.compress(text.encode()))
    elif packing == "zst":
        name, member = "deploy.log.zst", "deploy.log"
        (src / name).write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    else:
        name, member = "logs_1.tar.gz", "logs/app.log.gz/app.log"
        (src / name).write_bytes(tar_gz({"logs/app.log.gz": gzip.compress(text.encode())}))
    store = LocalFolderStore(tmp_path / "store", fsync=False)
    with pytest.raises(SecretsFoundError) as info:
        seal(store, request(src))
    assert [str(f) for f in info.value.findings] == [
        f"{name}[{member}]:3: aws-access-key ({AWS_FP})"]
    assert "re-create the file without the secret by hand" in str(info.value)
    with pytest.raises(SecretsNotRedactableError):
        seal_redacting(store, request(src), lambda r: pytest.fail("nothing can be redacted"))
    assert list(store.list()) == []


def test_an_unreadable_compressed_file_is_sealed_and_reported_as_not_scanned(tmp_path):
    src = session(tmp_path / "s")
    (src / "broken.gz").write_bytes(gzip.compress(log_lines(5000).encode())[:2000])
    (src / "bundle.zip").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    store = LocalFolderStore(tmp_path / "store", fsync=False)
    sealed = seal(store, request(src))
    assert sealed.secret_scan is not None
    skipped = {s.path: s.skipped for s in sealed.secret_scan.skipped}
    assert set(skipped) == {"broken.gz", "bundle.zip"}
    assert "corrupt or truncated" in skipped["broken.gz"]
    assert "corrupt" in skipped["bundle.zip"]


def test_after_the_first_secret_every_file_is_still_scanned_but_not_compressed(tmp_path):
    src = session(tmp_path / "s")
    (src / "a.log").write_text(f"early {AWS}\n")
    (src / "b.log").write_text(log_lines(60_000))  # about 3 MiB: many chunks, two buffers
    (src / "c.log").write_text(log_lines(10) + "password = 'Zq8vN3kP1xWt5Rb9'\n")
    full = io.BytesIO()
    build_bag(src, full, ticket_key="OPS-7", session_date="2024-05-01")
    out = io.BytesIO()
    with pytest.raises(SecretsFoundError) as info:
        build(src, out, chunk_size=SMALL_CHUNK, buffers=2)
    assert [(f.path, f.kind) for f in info.value.findings] == [
        ("a.log", "aws-access-key"), ("c.log", "high-entropy-assignment")]
    assert len(out.getvalue()) < len(full.getvalue()) // 2


def test_a_failing_scan_fails_the_build_instead_of_hanging_it(tmp_path):
    class Broken:
        name, overlap = "broken", 16
        calls = 0

        def find(self, data, base, out):
            Broken.calls += 1
            if Broken.calls > 3:
                raise RuntimeError("scanner broke")

    src = session(tmp_path / "s")
    (src / "b.log").write_text(log_lines(60_000))
    with pytest.raises(RuntimeError, match="scanner broke"):
        build(src, chunk_size=SMALL_CHUNK, buffers=2, scan_engine=Broken())


def test_a_refused_seal_to_s3_aborts_its_upload(tmp_path, moto_endpoint, moto_credentials,
                                                new_bucket, s3_admin):
    """The parts already sent are those of a multipart upload that is aborted:
    no object, no upload left open for a lifecycle rule to find."""
    from opsledger.archiver.stores.s3 import S3ArchiveStore

    src = session(tmp_path / "s")
    (src / "a_noise.bin").write_bytes(os.urandom(12 << 20))  # two parts go up first
    (src / "z_late.log").write_text(log_lines(10) + f"key {AWS}\n")
    bucket = new_bucket()
    store = S3ArchiveStore(bucket, "archives", endpoint_url=moto_endpoint, part_size=5 << 20,
                           **moto_credentials)
    with pytest.raises(SecretsFoundError, match="z_late.log:11: aws-access-key"):
        seal(store, request(src))
    assert s3_admin.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
