"""Attacks on the payload scan through packing: a key in a zip, several
layers of compression deep, in a file's name; each refuses the seal."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard
from opsledger.archiver.builder.seal import SealRequest, seal, seal_redacting
from opsledger.archiver.secrets.files import MAX_DEPTH, scan_tree
from opsledger.archiver.secrets.scanner import SecretsFoundError, SecretsNotRedactableError
from opsledger.archiver.stores.local import LocalFolderStore

AWS = "AKIAIOSFODNN7EXAMPLE"
PEM = (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
       b"-----END OPENSSH PRIVATE KEY-----\n")
KEY_BODY = b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"


def session(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "deploy.log").write_text("2026-11-24T10:00:00Z INFO order filled\n" * 100)
    return root


def request(src: Path) -> SealRequest:
    return SealRequest(ticket_key="OPS-7", session_date="2024-05-01", source_dir=src)


def refused(tmp_path: Path, src: Path) -> SecretsFoundError:
    """The seal refuses, --redact refuses too, the store stays empty; the
    message holds no byte of the key."""
    store = LocalFolderStore(tmp_path / "store", fsync=False)
    with pytest.raises(SecretsFoundError) as info:
        seal(store, request(src))
    with pytest.raises(SecretsNotRedactableError):
        seal_redacting(store, request(src), lambda r: pytest.fail("nothing can be redacted"))
    assert list(store.list()) == []
    for secret in (KEY_BODY.decode(), AWS):
        assert secret[4:] not in str(info.value)
    return info.value


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def tarred(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_key_inside_a_zip_is_found_not_just_warned_about(tmp_path):
    src = session(tmp_path / "s")
    (src / "bundle.zip").write_bytes(zipped({"notes.txt": b"hello\n", "keys/id_ed25519": PEM}))
    found = refused(tmp_path, src)
    assert [(f.path, f.member, f.kind) for f in found.findings] == [
        ("bundle.zip", "keys/id_ed25519", "private-key")]


LAYERS = [
    ("gz", gzip.compress), ("zst", zstandard.ZstdCompressor().compress),
    ("bz2", bz2.compress), ("xz", lzma.compress),
]


def nest(depth: int) -> tuple[str, bytes]:
    """The key, ``depth`` layers deep: compressions, a tar and a zip among them."""
    name, data = "key.pem", PEM
    for i in range(depth):
        if i == 1:
            name, data = "bundle.tar", tarred({name: data})
        elif i == 2:
            name, data = "bundle.zip", zipped({name: data})
        else:
            suffix, pack = LAYERS[i % len(LAYERS)]
            name, data = f"{name}.{suffix}", pack(data)
    return name, data


@pytest.mark.parametrize("depth", range(1, MAX_DEPTH + 1))
def test_a_key_is_found_through_every_layer_up_to_the_documented_depth(tmp_path, depth):
    src = session(tmp_path / "s")
    name, data = nest(depth)
    (src / name).write_bytes(data)
    found = refused(tmp_path, src)
    assert [f.kind for f in found.findings] == ["private-key"]
    assert scan_tree(src).findings[0].kind == "private-key"  # the stand-alone scan too


def test_a_layer_deeper_than_the_documented_depth_refuses_as_unscannable(tmp_path):
    src = session(tmp_path / "s")
    name, data = nest(MAX_DEPTH + 1)
    (src / name).write_bytes(data)
    found = refused(tmp_path, src)
    assert [f.kind for f in found.findings] == ["unscannable"]
    assert f"more than {MAX_DEPTH} layers deep" in str(found)


def test_an_encrypted_zip_member_refuses_as_unscannable(tmp_path):
    data = bytearray(zipped({"secret.txt": b"whatever\n"}))
    # mark the member encrypted, as `zip -e` does (zipfile cannot write one)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    src = session(tmp_path / "s")
    (src / "creds.zip").write_bytes(bytes(data))
    found = refused(tmp_path, src)
    assert [(f.member, f.kind) for f in found.findings] == [("secret.txt", "unscannable")]


def test_a_key_id_in_a_file_name_refuses_and_cannot_be_redacted(tmp_path):
    src = session(tmp_path / "s")
    (src / "exports").mkdir()
    (src / "exports" / f"positions-{AWS}.csv").write_text("symbol,qty\nES,3\n")
    found = refused(tmp_path, src)
    [finding] = found.findings
    assert (finding.kind, finding.in_name) == ("aws-access-key", True)
    assert "(its name)" in str(finding) and AWS not in str(finding)


def test_a_key_id_in_a_member_name_inside_a_tarball_is_found(tmp_path):
    src = session(tmp_path / "s")
    (src / "logs_1.tar.gz").write_bytes(gzip.compress(tarred({f"creds/{AWS}.txt": b"x\n"})))
    found = refused(tmp_path, src)
    assert [(f.kind, f.in_name) for f in found.findings] == [("aws-access-key", True)]
