"""Building a session bag: one pass, verified by the separate verifier."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import opsledger.archiver.payload as payload_stage
import pytest
import zstandard
from opsledger.archiver.builder.bag import build_bag
from opsledger.archiver.detached import DetachedManifest
from opsledger.archiver.errors import (
    ArchiveWriteError,
    BagInputError,
    SourceChangedError,
)
from opsledger.archiver.verify.findings import FindingKind
from opsledger.archiver.verify.verifier import verify_archive

SMALL_CHUNK = 64 << 10  # several chunks per file even for small test files


def make_session(root: Path) -> Path:
    """A settle-day folder as the runbook's archival checklist describes it."""
    root.mkdir()
    (root / "deploy.log").write_text("2024-05-01T09:00:00Z deploy ok\n" * 5000)
    (root / "settle.log").write_text("settled\n")
    (root / "metrics_1714550400.json").write_text(json.dumps({"p95_ms": 87}))
    (root / "positions.csv").write_text("symbol,qty\nES,5\n")
    (root / "risk_limits.yaml").write_text("notional: 5000000\n")
    (root / "empty.md").write_bytes(b"")
    logs = root / "observability" / "logs"
    logs.mkdir(parents=True)
    for i in range(20):
        (logs / f"gateway-{i:02d}.log").write_bytes(os.urandom(3000 + i))
    (root / "notes with spaces é.md").write_text("near miss\n")
    return root


def build(src: Path, **kwargs) -> tuple[bytes, object]:
    out = io.BytesIO()
    kwargs.setdefault("ticket_key", "OPS-7")
    kwargs.setdefault("session_date", "2024-05-01")
    kwargs.setdefault("bagging_date", "2024-05-02")
    kwargs.setdefault("chunk_size", SMALL_CHUNK)
    kwargs.setdefault("buffers", 4)
    result = build_bag(src, out, **kwargs)
    return out.getvalue(), result


def tar_members(archive: bytes) -> list[tarfile.TarInfo]:
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return tar.getmembers()


def test_settled_session_round_trips_through_the_verifier(tmp_path):
    src = make_session(tmp_path / "session")
    events = [b'{"seq":1,"type":"TicketOpened"}\n', b'{"seq":2,"type":"Settled"}\n']
    archive, result = build(
        src,
        bag_info=[("Opsledger-Ticket-Title", "Settle ES"), ("Opsledger-Env", "prod")],
        tag_files={"opsledger/events.jsonl": iter(events), "opsledger/ticket.json": b"{}"},
    )
    assert result.archive_name == "OPS-7-2024-05-01.tar.zst"
    assert result.archive_size == len(archive)
    assert result.archive_sha256 == hashlib.sha256(archive).hexdigest()

    report = verify_archive(io.BytesIO(archive), detached_manifest=result.detached_manifest)
    assert report.ok, [str(f) for f in report.findings]
    assert report.top_dir == "OPS-7-2024-05-01"
    assert report.tag_files["opsledger/events.jsonl"] == b"".join(events)
    assert report.bag_info[:3] == [
        ("Payload-Oxum", result.payload_oxum),
        ("Bagging-Date", "2024-05-02"),
        ("External-Identifier", "OPS-7"),
    ]
    assert report.bag_info[3:] == [("Opsledger-Ticket-Title", "Settle ES"), ("Opsledger-Env", "prod")]
    for path in src.rglob("*"):
        if path.is_file():
            rel = "data/" + path.relative_to(src).as_posix()
            data = path.read_bytes()
            assert report.files[rel].sha256 == hashlib.sha256(data).hexdigest()
            assert report.files[rel].sha512 == hashlib.sha512(data).hexdigest()
    assert result.payload_oxum == f"{sum(p.stat().st_size for p in src.rglob('*') if p.is_file())}.27"


def test_tag_files_follow_the_payload_and_tagmanifest_lists_them_all(tmp_path):
    src = make_session(tmp_path / "session")
    archive, result = build(src, tag_files={"opsledger/ticket.json": b"{}"})
    names = [m.name for m in tar_members(archive)]
    top = "OPS-7-2024-05-01"
    assert names[:3] == [top, f"{top}/bagit.txt", f"{top}/data"]
    last_payload = max(i for i, n in enumerate(names) if n.startswith(f"{top}/data/"))
    assert names[last_payload + 1:] == [
        f"{top}/bag-info.txt", f"{top}/opsledger", f"{top}/opsledger/ticket.json",
        f"{top}/manifest-sha256.txt", f"{top}/manifest-sha512.txt",
        f"{top}/tagmanifest-sha256.txt", f"{top}/tagmanifest-sha512.txt",
    ]
    report = verify_archive(io.BytesIO(archive))
    listed = report.tag_files["tagmanifest-sha256.txt"].decode().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in listed) == sorted(
        ["bagit.txt", "bag-info.txt", "opsledger/ticket.json",
         "manifest-sha256.txt", "manifest-sha512.txt"]
    )


def test_tar_is_posix_pax_with_normalised_owners(tmp_path):
    src = tmp_path / "session"
    src.mkdir()
    (src / ("long-" + "x" * 150 + ".log")).write_text("x")
    archive, _ = build(src)
    members = tar_members(archive)
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    long = [m for m in members if "long-" in m.name]
    assert long and long[0].pax_headers["path"].endswith("x" * 150 + ".log")


def test_same_folder_and_dates_give_identical_bytes(tmp_path):
    src = make_session(tmp_path / "session")
    first, r1 = build(src)
    second, r2 = build(src, chunk_size=1 << 20, buffers=2)
    assert first == second
    assert r1.detached_manifest == r2.detached_manifest


def test_detached_manifest_is_canonical_json_and_parses_back(tmp_path):
    src = make_session(tmp_path / "session")
    _, result = build(src)
    raw = result.detached_manifest
    doc = json.loads(raw)
    assert raw == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert doc["format_version"] == 1
    assert doc["archive"]["sha256"] == result.archive_sha256
    assert [f["path"] for f in doc["files"]] == [f.path for f in result.files]
    parsed = DetachedManifest.from_bytes(raw)
    assert parsed == result.manifest


def test_progress_reports_payload_bytes_up_to_the_total(tmp_path):
    src = make_session(tmp_path / "session")
    seen: list[tuple[int, int]] = []
    build(src, progress=lambda done, total: seen.append((done, total)))
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))


def test_empty_session_folder_is_a_valid_empty_bag(tmp_path):
    src = tmp_path / "empty"
    src.mkdir()
    archive, result = build(src)
    assert result.payload_oxum == "0.0"
    assert verify_archive(io.BytesIO(archive)).ok


def test_large_iterable_tag_file_is_spooled_not_held(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    line = b'{"event":"OrderFilled","qty":5}\n'
    archive, _ = build(src, tag_files={"opsledger/events.jsonl": (line for _ in range(400_000))})
    report = verify_archive(io.BytesIO(archive), max_tag_file=1 << 20)
    assert report.ok
    assert report.files["opsledger/events.jsonl"].size == len(line) * 400_000
    assert "opsledger/events.jsonl" not in report.tag_files  # above the keep-in-memory bound


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ticket_key": "../etc"}, "ticket key"),
        ({"ticket_key": ""}, "ticket key"),
        ({"session_date": "2024-5-1"}, "session date"),
        ({"bagging_date": "yesterday"}, "bagging date"),
        ({"bag_info": [("Payload-Oxum", "1.1")]}, "set by the archiver"),
        ({"tag_files": {"data/x": b""}}, "payload directory"),
        ({"tag_files": {"opsledger/ticket.json": "not bytes"}}, "bytes or an iterable"),
        ({"level": 0}, "zstd level"),
    ],
)
def test_bad_input_is_a_typed_error_before_anything_is_written(tmp_path, kwargs, message):
    src = make_session(tmp_path / "session")
    out = io.BytesIO()
    args = {"ticket_key": "OPS-7", "session_date": "2024-05-01", **kwargs}
    with pytest.raises(BagInputError, match=message):
        build_bag(src, out, **args)
    assert out.getvalue() == b""


def test_tag_iterable_yielding_text_is_refused(tmp_path):
    src = make_session(tmp_path / "session")
    with pytest.raises(BagInputError, match="yielded str"):
        build(src, tag_files={"opsledger/events.jsonl": iter(["text"])})


def test_symlinks_and_fifos_in_the_session_folder_are_refused(tmp_path):
    src = make_session(tmp_path / "session")
    (src / "link.log").symlink_to(src / "settle.log")
    with pytest.raises(BagInputError, match="symlink"):
        build(src)
    (src / "link.log").unlink()
    os.mkfifo(src / "pipe")
    with pytest.raises(BagInputError, match="special file"):
        build(src)


def test_missing_session_folder_is_refused(tmp_path):
    with pytest.raises(BagInputError, match="not a directory"):
        build(tmp_path / "nope")


def test_non_utf8_file_names_are_refused(tmp_path):
    src = make_session(tmp_path / "session")
    with open(os.path.join(os.fsencode(src), b"bad-\xff.log"), "wb") as f:
        f.write(b"x")
    with pytest.raises(BagInputError, match="not valid UTF-8"):
        build(src)


def _change_during_read(monkeypatch, target: Path, change) -> None:
    """Apply ``change`` to ``target`` right after its first chunk is read."""
    real_readv = payload_stage.os.readv
    target_ino = target.stat().st_ino
    state = {"done": False}

    def readv(fd, buffers):
        n = real_readv(fd, buffers)
        if not state["done"] and os.fstat(fd).st_ino == target_ino:
            state["done"] = True
            change(target)
        return n

    monkeypatch.setattr(payload_stage.os, "readv", readv)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: os.truncate(p, 100), "shrank while being read"),
        (lambda p: p.open("ab").write(b"late line\n"), "grew beyond"),
        (lambda p: (p.open("r+b").write(b"X"), os.utime(p, ns=(1, 1))), "modified while being read"),
    ],
    ids=["shrink", "grow", "rewrite"],
)
def test_file_changed_while_read_raises_and_leaves_no_valid_archive(
    tmp_path, monkeypatch, change, reason
):
    src = make_session(tmp_path / "session")
    _change_during_read(monkeypatch, src / "deploy.log", change)
    out = io.BytesIO()
    with pytest.raises(SourceChangedError, match=reason) as info:
        build_bag(src, out, ticket_key="OPS-7", session_date="2024-05-01", chunk_size=SMALL_CHUNK)
    assert info.value.path == "deploy.log"
    report = verify_archive(io.BytesIO(out.getvalue()))
    assert FindingKind.ARCHIVE_TRUNCATED in report.kinds()


def test_file_changed_between_scan_and_read_is_caught(tmp_path, monkeypatch):
    src = make_session(tmp_path / "session")
    real_scan = payload_stage.scan_payload

    def scan_then_append(root):
        plan = real_scan(root)
        with open(src / "settle.log", "ab") as f:
            f.write(b"appended after scan\n")
        return plan

    monkeypatch.setattr("opsledger.archiver.builder.bag.scan_payload", scan_then_append)
    with pytest.raises(SourceChangedError, match="size changed"):
        build(src)


class FailingOutput(io.RawIOBase):
    def __init__(self, fail_after: int) -> None:
        self.written = 0
        self.fail_after = fail_after

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.written > self.fail_after:
            raise OSError(28, "No space left on device")
        self.written += len(data)
        return len(data)


def test_output_failure_is_typed_and_stops_the_reader(tmp_path):
    src = tmp_path / "big"
    src.mkdir()
    (src / "noise.bin").write_bytes(os.urandom(3 << 20))
    with pytest.raises(ArchiveWriteError, match="No space left"):
        build_bag(src, FailingOutput(1 << 20), ticket_key="OPS-7", session_date="2024-05-01",
                  chunk_size=SMALL_CHUNK, buffers=2)


def test_short_writes_from_a_raw_stream_are_completed(tmp_path):
    class Trickle(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            n = min(len(data), 1000)
            self.data += bytes(data[:n])
            return n

    src = make_session(tmp_path / "session")
    out = Trickle()
    result = build_bag(src, out, ticket_key="OPS-7", session_date="2024-05-01")
    assert len(out.data) == result.archive_size
    assert verify_archive(io.BytesIO(bytes(out.data)), detached_manifest=result.detached_manifest).ok


@pytest.mark.slow
def test_memory_stays_bounded_for_a_large_session(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "large"
    src.mkdir()
    with open(src / "sparse.bin", "wb") as f:
        f.truncate(768 << 20)  # reads as zeros, costs no disk
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from archiver.builder.bag import build_bag\n"
        "class Null:\n"
        "    def write(self, d): return len(d)\n"
        f"build_bag(Path({str(src)!r}), Null(), ticket_key='OPS-7', session_date='2024-05-01')\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the
        # parent, and the parent here is a pytest process of any size.
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    peak_kib = int(out.stdout.strip())
    assert peak_kib < 256 * 1024
