"""The offline verifier: every failure listed, hostile archives refused."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard
from opsledger.archiver.builder.bag import build_bag
from opsledger.archiver.builder.tarstream import TarStreamWriter
from opsledger.archiver.errors import ExtractError
from opsledger.archiver.extract import extract_safe
from opsledger.archiver.verify.findings import FindingKind as K
from opsledger.archiver.verify.verifier import verify_archive

TOP = "OPS-9-2024-05-01"


def make_session(root: Path) -> Path:
    root.mkdir()
    (root / "deploy.log").write_text("".join(f"09:{i % 60:02d} deploy step {i}\n" for i in range(40000)))
    (root / "noise.bin").write_bytes(os.urandom(600_000))
    (root / "settle.log").write_text("settled\n")
    (root / "incidents").mkdir()
    (root / "incidents" / "sla_incidents.md").write_text("none\n")
    return root


@pytest.fixture
def bag(tmp_path) -> tuple[bytes, bytes, Path]:
    src = make_session(tmp_path / "session")
    out = io.BytesIO()
    result = build_bag(src, out, ticket_key="OPS-9", session_date="2024-05-01",
                       tag_files={"opsledger/ticket.json": b'{"key":"OPS-9"}'})
    return out.getvalue(), result.detached_manifest, src


def verify(archive: bytes, **kwargs):
    return verify_archive(io.BytesIO(archive), **kwargs)


def untar(archive: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive)).read()
    members = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for info in tar.getmembers():
            data = tar.extractfile(info).read() if info.isreg() else None
            members.append((info, data))
    return members


def retar(members, fmt=tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return zstandard.ZstdCompressor(write_checksum=True).compress(raw.getvalue())


def edit(archive: bytes, changes: dict[str, bytes | None] | None = None, extra=()) -> bytes:
    """Replace (bytes) or drop (None) members by bag path, then append ``extra``."""
    changes = changes or {}
    kept = []
    for info, data in untar(archive):
        rel = info.name.partition("/")[2]
        if rel in changes:
            if changes[rel] is None:
                continue
            data = changes[rel]
        kept.append((info, data))
    return retar(kept + list(extra))


def member(name: str, kind=tarfile.REGTYPE, data: bytes | None = b"", **attrs):
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, (data if kind == tarfile.REGTYPE else None)


def paths_of(report, kind):
    return [f.path for f in report.findings if f.kind is kind]


# -- a good bag ---------------------------------------------------------------


def test_a_freshly_built_bag_verifies_with_and_without_its_detached_manifest(bag):
    archive, detached, _ = bag
    assert verify(archive).ok
    report = verify(archive, detached_manifest=detached)
    assert report.ok
    assert report.archive_size == len(archive)
    assert json.loads(report.tag_files["opsledger/ticket.json"]) == {"key": "OPS-9"}


def test_progress_counts_compressed_bytes_against_the_detached_size(bag):
    archive, detached, _ = bag
    seen = []
    verify(archive, detached_manifest=detached, progress=lambda done, total: seen.append((done, total)))
    assert seen and all(total == len(archive) for _, total in seen)
    assert seen[-1][0] <= len(archive)


# -- damage ----------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.2, 0.45, 0.7])
def test_one_corrupt_byte_in_stored_data_is_pinned_to_its_file(bag, fraction):
    archive, detached, _ = bag
    damaged = bytearray(archive)
    damaged[int(len(damaged) * fraction)] ^= 0x55  # inside noise.bin's stored blocks
    report = verify(bytes(damaged), detached_manifest=detached)
    kinds_for_noise = {f.kind for f in report.findings if f.path == "data/noise.bin"}
    assert kinds_for_noise == {K.CHECKSUM_MISMATCH, K.DETACHED_MISMATCH}, [str(f) for f in report.findings]
    assert {f.path for f in report.findings} == {"data/noise.bin", None}  # None: the archive hash


def test_one_corrupt_byte_in_compressed_text_is_pinned_to_its_file(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    (src / "a-noise.bin").write_bytes(os.urandom(1536 << 10))
    (src / "b-execution.log").write_text(
        "".join(f"09:{i % 60:02d}:{i % 7:02d} fill ES qty={i % 50} px={4000 + i % 900}\n"
                for i in range(250_000)))
    out = io.BytesIO()
    build_bag(src, out, ticket_key="OPS-9", session_date="2024-05-01")
    archive = out.getvalue()
    damaged = bytearray(archive)
    start = 1536 << 10  # past the stored noise, well inside the log's compressed blocks
    damaged[start + (len(archive) - start) // 2] ^= 0x55
    report = verify(bytes(damaged))
    hit = [f for f in report.findings if f.path == "data/b-execution.log"]
    assert hit and hit[0].kind in (K.ARCHIVE_CORRUPT, K.CHECKSUM_MISMATCH), [str(f) for f in report.findings]


@pytest.mark.parametrize("cut", [0, 3, 9, 700, 0.5, -300, -5, -1])
def test_truncated_archive_gives_findings_not_a_traceback(bag, cut):
    archive, detached, _ = bag
    keep = int(len(archive) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(archive) + cut)
    report = verify(archive[:keep], detached_manifest=detached)
    assert not report.ok
    assert report.kinds() & {K.ARCHIVE_TRUNCATED, K.ARCHIVE_CORRUPT}, [str(f) for f in report.findings]


def test_a_cut_inside_the_final_checksum_is_still_noticed_without_detached_manifest(bag):
    archive, _, _ = bag
    report = verify(archive[:-2])
    assert K.ARCHIVE_TRUNCATED in report.kinds()


def test_not_an_archive_at_all(bag):
    report = verify(b"\x1f\x8b\x08\x00 this is gzip, not zstd" * 10)
    assert K.ARCHIVE_CORRUPT in report.kinds()
    assert K.BAG_STRUCTURE in report.kinds()


def test_junk_or_a_second_frame_after_the_archive_is_reported(bag):
    archive, _, _ = bag
    assert K.TRAILING_DATA in verify(archive + b"appended junk").kinds()
    assert K.TRAILING_DATA in verify(archive + zstandard.ZstdCompressor().compress(b"x")).kinds()


def test_tampered_manifests_and_payload_are_all_listed_at_once(bag):
    archive, detached, _ = bag
    files = {i.name.partition("/")[2]: d for i, d in untar(archive) if i.isreg()}
    manifest = files["manifest-sha256.txt"].decode().splitlines()
    wrong = [("0" * 64 + line[64:]) if line.endswith("data/settle.log") else line for line in manifest]
    wrong = [line for line in wrong if not line.endswith("data/incidents/sla_incidents.md")]
    wrong.append("ab" * 32 + "  data/never-archived.log")
    info = files["bag-info.txt"].replace(b"Payload-Oxum: ", b"Payload-Oxum: 1")
    tampered = edit(
        archive,
        {"manifest-sha256.txt": "\n".join(wrong).encode() + b"\n", "bag-info.txt": info,
         "manifest-sha512.txt": None},
        extra=[member(f"{TOP}/data/smuggled.txt", data=b"not in any manifest")],
    )
    report = verify(tampered, detached_manifest=detached)
    by_kind = {k: paths_of(report, k) for k in report.kinds()}
    assert "data/settle.log" in by_kind[K.CHECKSUM_MISMATCH]
    assert "manifest-sha256.txt" in by_kind[K.CHECKSUM_MISMATCH]  # caught by tagmanifest too
    assert "bag-info.txt" in by_kind[K.CHECKSUM_MISMATCH]
    assert by_kind[K.FILE_MISSING] == ["data/never-archived.log", "manifest-sha512.txt", "manifest-sha512.txt"]
    assert sorted(by_kind[K.FILE_NOT_IN_MANIFEST]) == ["data/incidents/sla_incidents.md", "data/smuggled.txt"]
    assert by_kind[K.MANIFEST_MISSING] == ["manifest-sha512.txt"]
    assert by_kind[K.PAYLOAD_OXUM] == ["bag-info.txt"]
    assert "data/smuggled.txt" in by_kind[K.DETACHED_UNLISTED]
    assert "manifest-sha512.txt" in by_kind[K.DETACHED_MISSING]
    mismatch = next(f for f in report.findings if f.kind is K.CHECKSUM_MISMATCH and f.path == "data/settle.log")
    assert mismatch.expected == "0" * 64 and mismatch.actual and mismatch.actual != mismatch.expected


def test_bagit_txt_problems(bag):
    archive, _, _ = bag
    bad = edit(archive, {"bagit.txt": b"\xef\xbb\xbfBagIt-Version: 0.96\nTag-File-Character-Encoding: latin-1\n"})
    messages = [f.message for f in verify(bad).findings if f.kind is K.BAGIT_TXT]
    assert len(messages) == 3  # byte-order mark, version, encoding
    assert K.BAGIT_TXT in verify(edit(archive, {"bagit.txt": None})).kinds()


def test_detached_manifest_mismatches(bag):
    archive, detached, _ = bag
    doc = json.loads(detached)
    doc["archive"]["size"] += 1
    doc["files"][1]["sha256"] = "f" * 64
    doc["files"].append({"path": "data/ghost.log", "size": 1, "sha256": "e" * 64})
    report = verify(archive, detached_manifest=json.dumps(doc).encode())
    assert paths_of(report, K.DETACHED_MISMATCH) == [None, doc["files"][1]["path"]]
    assert paths_of(report, K.DETACHED_MISSING) == ["data/ghost.log"]
    invalid = verify(archive, detached_manifest=b"{not json")
    assert paths_of(invalid, K.DETACHED_INVALID) == [None]
    doc["format_version"] = 99
    assert K.DETACHED_INVALID in verify(archive, detached_manifest=json.dumps(doc).encode()).kinds()


# -- hostile members ------------------------------------------------------------


HOSTILE = [
    (member("/etc/cron.d/evil", data=b"* * * * * root sh"), K.UNSAFE_PATH),
    (member(f"{TOP}/data/../../escape.txt", data=b"x"), K.UNSAFE_PATH),
    (member(f"{TOP}/data/link", tarfile.SYMTYPE, linkname="/etc/passwd"), K.LINK_MEMBER),
    (member(f"{TOP}/data/hard", tarfile.LNKTYPE, linkname=f"{TOP}/data/settle.log"), K.LINK_MEMBER),
    (member(f"{TOP}/data/tty", tarfile.CHRTYPE, devmajor=5, devminor=0), K.SPECIAL_MEMBER),
    (member(f"{TOP}/data/pipe", tarfile.FIFOTYPE), K.SPECIAL_MEMBER),
    (member("elsewhere/notes.txt", data=b"x"), K.OUTSIDE_TOP_DIR),
    (member("beside-top.txt", data=b"x"), K.OUTSIDE_TOP_DIR),
    (member(f"{TOP}/data/settle.log", data=b"second copy"), K.DUPLICATE_MEMBER),
]


@pytest.mark.parametrize(("hostile", "kind"), HOSTILE, ids=[k.value + str(i) for i, (_, k) in enumerate(HOSTILE)])
def test_hostile_member_is_reported_and_not_counted(bag, hostile, kind):
    archive, _, _ = bag
    report = verify(edit(archive, extra=[hostile]))
    assert [(f.kind, f.path) for f in report.findings] == [(kind, hostile[0].name)]
    assert report.files["data/settle.log"].size == len(b"settled\n")


def test_all_hostile_members_at_once_are_all_listed(bag):
    archive, _, _ = bag
    report = verify(edit(archive, extra=[h for h, _ in HOSTILE]))
    assert sorted(f.kind for f in report.findings) == sorted(k for _, k in HOSTILE)


def test_gnu_format_long_names_are_understood(bag):
    archive, _, _ = bag
    long_name = f"{TOP}/opsledger/" + "p" * 140 + ".json"
    members = untar(archive) + [member(long_name, data=b"{}")]
    report = verify(retar(members, fmt=tarfile.GNU_FORMAT))
    # The tar is readable; the extra tag file is simply not in the tag manifest.
    assert [(f.kind, f.path) for f in report.findings] == [
        (K.FILE_NOT_IN_MANIFEST, long_name.partition("/")[2]),
        (K.FILE_NOT_IN_MANIFEST, long_name.partition("/")[2]),
    ]


def test_legacy_percent_spelling_is_accepted(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    (src / "50%.txt").write_text("fifty")
    (src / "a%b\nc.txt").write_text("odd")
    out = io.BytesIO()
    build_bag(src, out, ticket_key="OPS-9", session_date="2024-05-01")
    archive = out.getvalue()
    files = {i.name.partition("/")[2]: d for i, d in untar(archive) if i.isreg()}
    legacy = {}
    for name in ("manifest-sha256.txt", "manifest-sha512.txt"):
        text = files[name].decode()
        assert "data/50%25.txt" in text and "data/a%25b%0Ac.txt" in text
        # bagit-python's spelling: '%' raw, only CR/LF escaped.
        legacy[name] = text.replace("%25", "%").encode()
    tampered = edit(archive, {**legacy, "tagmanifest-sha256.txt": None, "tagmanifest-sha512.txt": None})
    report = verify(tampered)
    assert [f.kind for f in report.findings] == [K.MANIFEST_MISSING]  # only the dropped tagmanifest
    assert {"data/50%.txt", "data/a%b\nc.txt"} <= set(report.files)


# -- decompression bombs --------------------------------------------------------


def zero_bomb(size: int) -> bytes:
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False) as z:
        tar = TarStreamWriter(z.write)
        tar.add_directory(TOP, 0)
        tar.begin_file(f"{TOP}/data/zeros.bin", size, 0)
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            tar.write(block)
        tar.end_file()
        tar.close()
    return out.getvalue()


def test_decompression_ratio_bound_stops_a_zero_bomb():
    bomb = zero_bomb(256 << 20)
    assert len(bomb) < 64 << 10
    report = verify(bomb)
    limit = [f for f in report.findings if f.kind is K.DECOMPRESSION_LIMIT]
    assert limit and limit[0].path == "data/zeros.bin"
    assert report.tar_size < 100 << 20  # stopped soon after the 64 MiB floor


def test_absolute_decompressed_size_bound(bag):
    archive, _, _ = bag
    report = verify(archive, max_decompressed=1 << 20)
    assert K.DECOMPRESSION_LIMIT in report.kinds()
    assert report.archive_size == len(archive)  # the whole input was still hashed


# -- extract_safe -----------------------------------------------------------------


def test_extract_safe_reproduces_the_session_folder(bag, tmp_path):
    archive, detached, src = bag
    dest = tmp_path / "audit"
    report = extract_safe(io.BytesIO(archive), dest, detached_manifest=detached)
    assert report.ok
    for path in src.rglob("*"):
        if path.is_file():
            copy = dest / TOP / "data" / path.relative_to(src)
            assert copy.read_bytes() == path.read_bytes()
    assert (dest / TOP / "bagit.txt").is_file()


def test_extract_safe_never_writes_hostile_members(bag, tmp_path):
    archive, _, _ = bag
    dest = tmp_path / "audit"
    report = extract_safe(io.BytesIO(edit(archive, extra=[h for h, _ in HOSTILE])), dest)
    assert not report.ok
    assert not (tmp_path / "escape.txt").exists()
    assert not (dest / "elsewhere").exists() and not (dest / "beside-top.txt").exists()
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert (dest / TOP / "data" / "settle.log").read_bytes() == b"settled\n"  # first copy kept
    assert not (dest / TOP / "data" / "tty").exists()


def test_extract_safe_refuses_a_used_destination(bag, tmp_path):
    archive, _, _ = bag
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    with pytest.raises(ExtractError, match="not empty"):
        extract_safe(io.BytesIO(archive), used)
    link = tmp_path / "link"
    link.symlink_to(used)
    with pytest.raises(ExtractError, match="not a plain directory"):
        extract_safe(io.BytesIO(archive), link)
