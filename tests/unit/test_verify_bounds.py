"""Hostile inputs that once cost gigabytes (issue 13, "Bounded verification").

Each runs the real command in a child process and reads the child's own peak
resident set (VmHWM; ru_maxrss would carry the pytest parent's across exec):
every one ends in exactly one finding, exit 1 (exit 2 for the SLA export,
an invalid input), under 256 MB, in seconds.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard
from opsledger.archiver.builder.bag import build_bag

TOP = "OPS-9-2024-05-01"
PEAK_LIMIT_KIB = 256 * 1024
TIME_LIMIT = 60.0  # seconds on a loaded 2-core machine; each takes a few

# Runs the CLI in the child and reports its exit code and VmHWM on the fd it is given.
CHILD = """
import os, sys
from opsledger.cli.main import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
peak = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))
os.write(int(os.environ["REPORT_FD"]), f"{code} {peak}".encode())
"""


def run_cli(tmp_path: Path, *argv: str) -> tuple[int, int, float, str, str]:
    """(exit code, peak RSS in KiB, seconds, stdout, stderr) of `opsledger argv`."""
    read, write = os.pipe()
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "auditor",
           "PATH": "/usr/bin:/bin", "REPORT_FD": str(write)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], pass_fds=(write,), env=env,
                          capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - start
    os.close(write)
    with open(read, "rb") as f:
        report = f.read().decode()
    assert report, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    code, peak = map(int, report.split())
    print(f"{argv[:2]} -> exit {code}, peak {peak // 1024} MiB, {seconds:.1f} s")
    return code, peak, seconds, proc.stdout, proc.stderr


def verify_file(tmp_path: Path, archive: Path, *extra: str) -> tuple[list[str], int]:
    """`archive verify FILE --json --integrity-only`: (findings, exit code), bounds asserted."""
    code, peak, seconds, out, err = run_cli(tmp_path, "archive", "verify", str(archive),
                                            "--json", "--integrity-only", *extra)
    assert "Traceback" not in out + err, err[-3000:]
    assert peak < PEAK_LIMIT_KIB, f"peak RSS {peak} KiB"
    assert seconds < TIME_LIMIT, f"{seconds:.1f} s"
    findings = json.loads(out)["findings"]
    assert len(out) < 100_000, "the report must be bounded too"
    return findings, code


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory) -> bytes:
    src = tmp_path_factory.mktemp("session") / "s"
    src.mkdir()
    (src / "deploy.log").write_text("".join(f"09:{i % 60:02d} deploy step {i}\n" for i in range(300)))
    (src / "pnl.csv").write_text("t,pnl\n1,2\n")
    out = io.BytesIO()
    build_bag(src, out, ticket_key="OPS-9", session_date="2024-05-01")
    return out.getvalue()


class Lazy(io.RawIOBase):
    """`size` bytes of a repeated `unit`, produced as read."""

    def __init__(self, unit: bytes, size: int) -> None:
        self.unit, self.left = unit, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        reps = (self.unit * (n // len(self.unit) + 2))[:n]
        buffer[:n] = reps
        self.left -= n
        return n


def write_tar_zst(path: Path, members: list[tuple[str, int, bytes]]) -> None:
    """A bag-shaped tar.zst: `(name under TOP, size, repeated unit)` members, streamed."""
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True, threads=2)
    with open(path, "wb") as raw, cctx.stream_writer(raw) as out, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, size, unit in members:
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = size
            tar.addfile(info, io.BufferedReader(Lazy(unit, size)) if size else None)


def test_two_bogus_64_mib_manifests_in_a_small_archive(tmp_path):
    bogus = b"0" * 64 + b"  data/nowhere\n"
    archive = tmp_path / f"{TOP}.tar.zst"
    write_tar_zst(archive, [
        ("bagit.txt", 55, b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
        ("manifest-sha256.txt", 64 << 20, bogus),
        ("manifest-sha512.txt", 64 << 20, bogus),
    ])
    assert archive.stat().st_size < 4 << 20
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert len(findings) == 1 and findings[0].startswith("limit-exceeded 'manifest-sha256.txt'")


def test_a_bag_info_of_nine_megabytes_of_short_lines(tmp_path):
    """Found by the hypothesis run of tests/property: 706,000 'Label: value' pairs
    parsed cost 259 MB; bag-info.txt is now capped in lines before parsing."""
    archive = tmp_path / f"{TOP}.tar.zst"
    write_tar_zst(archive, [
        ("bagit.txt", 55, b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
        ("bag-info.txt", 9_181_120, b"Label: value\n"),
    ])
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert [f for f in findings if f.startswith("limit-exceeded 'bag-info.txt'")], findings


def _tiny_members(count: int):
    """`count` empty files as raw ustar headers, made quickly from one template."""
    template = bytearray(tarfile.TarInfo(f"{TOP}/data/f0000000").tobuf(tarfile.USTAR_FORMAT))
    at = template.index(b"f0000000") + 1
    template[148:156] = b" " * 8
    base = sum(template) - sum(template[at : at + 7])
    for i in range(count):
        digits = b"%07d" % i
        block = template[:]
        block[at : at + 7] = digits
        block[148:156] = b"%06o\0 " % (base + sum(digits))
        yield bytes(block)


def test_three_million_tiny_tar_members(tmp_path):
    archive = tmp_path / f"{TOP}.tar.zst"
    cctx = zstandard.ZstdCompressor(level=1, threads=2)
    with open(archive, "wb") as raw, cctx.stream_writer(raw) as out:
        batch = []
        for block in _tiny_members(3_000_000):
            batch.append(block)
            if len(batch) == 8192:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch) + bytes(1024))
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert findings == [findings[0]] and findings[0].startswith("limit-exceeded: the number of tar members")


def test_two_gib_detached_manifest_of_zeros(tmp_path, small_bag):
    archive = tmp_path / f"{TOP}.tar.zst"
    archive.write_bytes(small_bag)
    with open(tmp_path / f"{TOP}.tar.zst.manifest", "wb") as f:
        f.truncate(2 << 30)  # reads as zeros, costs no disk
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert len(findings) == 1 and findings[0].startswith(
        "limit-exceeded: the detached manifest's size"), findings


def test_sidecar_of_200k_nested_brackets(tmp_path, small_bag):
    archive = tmp_path / f"{TOP}.tar.zst"
    archive.write_bytes(small_bag)
    (tmp_path / f"{TOP}.tar.zst.manifest").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert len(findings) == 1 and findings[0].startswith(
        "limit-exceeded: its JSON nesting depth"), findings


def test_flipped_byte_in_the_zstd_frame_checksum(tmp_path, small_bag):
    archive = tmp_path / f"{TOP}.tar.zst"
    archive.write_bytes(small_bag[:-1] + bytes([small_bag[-1] ^ 0x01]))
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert len(findings) == 1 and "content checksum does not match" in findings[0], findings


@pytest.mark.parametrize("where", ["after", "before"])
def test_data_hidden_in_a_zstd_skippable_frame(tmp_path, small_bag, where):
    hidden = b"exfiltrated or injected bytes " * 100
    frame = struct.pack("<II", 0x184D2A5E, len(hidden)) + hidden
    archive = tmp_path / f"{TOP}.tar.zst"
    archive.write_bytes(small_bag + frame if where == "after" else frame + small_bag)
    findings, code = verify_file(tmp_path, archive)
    assert code == 1
    assert len(findings) == 1 and findings[0].startswith("zstd-skippable-frame"), findings


def test_gzip_bomb_given_to_sla_evaluate(tmp_path):
    member = gzip.compress(bytes(64 << 20), compresslevel=9)  # ~64 KB each, 64 MiB inflated
    bomb = tmp_path / "metrics.json.gz"
    with open(bomb, "wb") as f:
        for _ in range((18 << 20) // len(member)):
            f.write(member)
    assert bomb.stat().st_size > 17 << 20  # ~18 MB, ~18 GiB inflated
    code, peak, seconds, out, err = run_cli(tmp_path, "sla", "evaluate", "CHG-1", str(bomb),
                                            "--dry-run")
    assert "Traceback" not in out + err
    assert code == 2, err  # an export that cannot be read is an invalid input
    # the streaming reader stops at the first byte that is not JSON (zeros), long
    # before inflating 18 GiB; its own tests cover bombs of valid JSON
    assert "metrics.json.gz" in err and len(err.strip().splitlines()) == 1, err
    assert peak < PEAK_LIMIT_KIB and seconds < TIME_LIMIT


# -- the caps' mechanics, in process ----------------------------------------------


def test_findings_of_one_kind_are_capped_then_counted(small_bag):
    from opsledger.archiver.verify.verifier import verify_archive

    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(small_bag)).read()
    members = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for info in tar.getmembers():
            data = tar.extractfile(info).read() if info.isreg() else None
            if info.name.endswith("/manifest-sha256.txt"):
                data += b"not a manifest line\n" * 1000
                info.size = len(data)
            members.append((info, data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    report = verify_archive(io.BytesIO(zstandard.ZstdCompressor().compress(out.getvalue())))
    malformed = [f for f in report.findings if f.kind == "manifest-malformed"]
    assert len(malformed) == 101 and malformed[-1].message.startswith("900 more")


@pytest.mark.parametrize(("text", "deep"), [
    (b"[" * 64 + b"]" * 64, False),
    (b"[" * 65 + b"]" * 65, True),
    (b'{"a":"[[[[[[[[' + b"[" * 100 + b'"}', False),  # brackets inside a string
    (b"[" * 100 + b'"' + b"]" * 100 + b'"', True),  # a quote hiding the closers
    (b'{"a":[1,{"b":[2]}]}\n' * 1000, False),  # JSON lines, each shallow
])
def test_json_depth_is_judged_without_parsing(text, deep):
    from opsledger.archiver.verify.limits import json_depth_exceeds

    assert json_depth_exceeds(text, 64) is deep


def test_a_replayed_tag_file_too_large_to_keep_is_one_finding():
    from types import SimpleNamespace

    from opsledger.services.archive_check import provenance_findings

    report = SimpleNamespace(limited=False, unkept_tags={"opsledger/events.jsonl"},
                             tag_files={}, files={})
    found = provenance_findings(report)
    assert len(found) == 1 and found[0].startswith("limit-exceeded 'opsledger/events.jsonl'")
    assert provenance_findings(SimpleNamespace(limited=True)) == []
