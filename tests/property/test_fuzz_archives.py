"""Mutated archives, fuzzed: the verifier turns every one into findings, never a crash.

A small real bag is mutated at two layers: the ``.tar.zst`` bytes as stored
(most mutations die at the zstd frame check) and the decompressed tar,
recompressed, so that the tar scanner and the bag checks are what must
notice. ``verify_archive`` must return (no exception, no hang, bounded
memory) and report ``ok=False`` whenever the mutation changed something the
archive is made of.
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard
from clirunner import invoke
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opsledger.archiver.builder.bag import build_bag
from opsledger.archiver.verify.findings import FindingKind
from opsledger.archiver.verify.verifier import VerifyReport, verify_archive

# Each example verifies a ~2 KB archive in milliseconds; the deadline only has to
# tell a slow example from a runaway one on a loaded 2-core machine.
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_LIMIT = 30.0  # seconds: past this a verification is treated as hung
MEMORY_LIMIT = 64 << 20  # Python-heap peak of one verification of a ~20 KB tar
TOP = "OPS-9-2024-05-01"


def _build() -> tuple[bytes, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "session"
        (src / "incidents").mkdir(parents=True)
        (src / "deploy.log").write_text("".join(f"09:{i:02d} deploy step {i}\n" for i in range(30)))
        (src / "incidents" / "sla_incidents.md").write_text("none\n")
        (src / "noise.bin").write_bytes(bytes(range(256)) * 3)
        out = io.BytesIO()
        result = build_bag(src, out, ticket_key="OPS-9", session_date="2024-05-01",
                           bagging_date="2024-05-02",
                           tag_files={"opsledger/ticket.json": b'{"key":"OPS-9"}'})
    return out.getvalue(), result.detached_manifest


ARCHIVE, MANIFEST = _build()
TAR = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(ARCHIVE)).read()


def _layout(tar: bytes) -> tuple[set[int], int]:
    """Offsets of the zero fill after each member's data (bytes no reader interprets),
    and where the end-of-archive marker starts."""
    spare: set[int] = set()
    end_of_members = 0
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive.getmembers():
            end = member.offset_data + member.size
            end_of_members = -(-end // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            spare.update(range(end, end_of_members))
    return spare, end_of_members


_spare, END_OF_MEMBERS = _layout(TAR)
TAR_PADDING = frozenset(_spare)


def _header_blocks(tar: bytes) -> frozenset[int]:
    """Offsets inside 512-byte header blocks (a member's own, and its pax
    header's), not the pax records between them."""
    offsets: set[int] = set()
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive.getmembers():
            for start in {member.offset, member.offset_data - tarfile.BLOCKSIZE}:
                offsets.update(range(start, start + tarfile.BLOCKSIZE))
    return frozenset(offsets)


HEADER_BLOCKS_BYTES = _header_blocks(TAR)


# Mutations: each takes the bytes and a hypothesis draw, returns new bytes. ------


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    size = len(original)
    data = bytearray(original)
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "duplicate", "several"]))
    rounds = draw(st.integers(2, 4)) if kind == "several" else 1
    for _ in range(rounds):
        step = kind if kind != "several" else draw(
            st.sampled_from(["flip", "truncate", "splice", "insert", "duplicate"]))
        size = len(data)
        if size == 0:
            data += draw(st.binary(min_size=1, max_size=64))
            continue
        if step == "flip":
            for _ in range(draw(st.integers(1, 8))):
                at = draw(st.integers(0, size - 1))
                data[at] ^= draw(st.integers(1, 255))
        elif step == "truncate":
            data = data[: draw(st.integers(0, size - 1))]
        elif step == "splice":
            start = draw(st.integers(0, size - 1))
            length = draw(st.integers(1, min(1024, size - start)))
            source = draw(st.integers(0, size - length))
            data[start : start + length] = bytes(data[source : source + length])
        elif step == "insert":
            at = draw(st.integers(0, size))
            data[at:at] = draw(st.one_of(
                st.binary(min_size=1, max_size=600),
                st.just(b"\0" * 512),
                st.just(zstandard.ZstdCompressor().compress(b"\0" * 100_000)),
            ))
        else:  # duplicate a range right after itself
            start = draw(st.integers(0, size - 1))
            length = draw(st.integers(1, min(2048, size - start)))
            data[start + length : start + length] = bytes(data[start : start + length])
    return bytes(data)


def _changed_content(mutant: bytes) -> bool:
    """Whether a tar-level mutation touched anything but zero fill (the fill after
    each member's data, and the zeros after the two-block end-of-archive marker,
    whose length only the record size sets) or header fields the bag does not
    protect (see _metadata_only)."""
    head, tail = mutant[:END_OF_MEMBERS], mutant[END_OF_MEMBERS:]
    if len(head) != END_OF_MEMBERS:
        return True
    changed = [i for i, (a, b) in enumerate(zip(TAR[:END_OF_MEMBERS], head, strict=True))
               if a != b and i not in TAR_PADDING]
    if changed and not _metadata_only(mutant, changed):
        return True
    return len(tail) < 2 * tarfile.BLOCKSIZE or any(tail)


# ustar header fields no BagIt check covers: mode, uid, gid, mtime, uname, gname,
# devmajor, devminor. A byte permutation inside them keeps the header checksum
# valid (it is a plain byte sum), so the tar stays sound and nothing it protects
# changed: the detached manifest's archive digest is what catches such edits.
_UNPROTECTED = frozenset([*range(100, 148), *range(265, 345)])


def _metadata_only(mutant: bytes, changed: list[int]) -> bool:
    if any(i % tarfile.BLOCKSIZE not in _UNPROTECTED or i not in HEADER_BLOCKS_BYTES
           for i in changed):
        return False
    try:
        return _members(mutant) == _members(TAR)
    except tarfile.TarError:
        return False  # e.g. the header checksum no longer adds up


def _members(tar: bytes) -> list[tuple]:
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        return [(m.name, m.type, m.size, m.linkname,
                 archive.extractfile(m).read() if m.isfile() else b"") for m in archive]


def _recompress(tar: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(tar)


def verify_bounded(archive: bytes, manifest: bytes | None) -> VerifyReport:
    """verify_archive under a hang guard and a Python-heap ceiling; re-raises what it raised."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = verify_archive(io.BytesIO(archive), detached_manifest=manifest)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            outcome["error"] = exc

    tracemalloc.start()
    try:
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(HANG_LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not worker.is_alive(), f"verification still running after {HANG_LIMIT} s"
    if "error" in outcome:
        raise AssertionError(f"verify_archive raised {outcome['error']!r}") from outcome["error"]  # type: ignore[arg-type]
    assert peak < MEMORY_LIMIT, f"verification peaked at {peak} bytes of Python heap"
    report = outcome["report"]
    assert isinstance(report, VerifyReport)
    return report


def test_the_unmutated_archive_verifies():
    assert verify_bounded(ARCHIVE, MANIFEST).ok
    assert verify_bounded(_recompress(TAR), None).ok


@FUZZ
@given(st.data())
def test_mutated_archive_bytes_are_findings(data):
    mutant = data.draw(mutated(ARCHIVE))
    if mutant == ARCHIVE:
        return  # a splice can copy a range onto identical bytes
    report = verify_bounded(mutant, MANIFEST)
    assert not report.ok, "a changed archive passed verification against its manifest"
    # Without the manifest only the archive's own checks (zstd checksum, tar, bag) remain.
    verify_bounded(mutant, None)


@FUZZ
@given(st.data())
def test_mutated_tar_reaches_the_tar_and_bag_checks(data):
    mutant = data.draw(mutated(TAR))
    if mutant == TAR:
        return
    archive = _recompress(mutant)
    assert not verify_bounded(archive, MANIFEST).ok
    # No manifest: the recompressed frame is sound, so whatever is found was found
    # by the tar scanner or the bag checks.
    report = verify_bounded(archive, None)
    if _changed_content(mutant):
        assert not report.ok, "a tar with changed content passed verification"
        frame_level = {FindingKind.ARCHIVE_UNREADABLE, FindingKind.DECOMPRESSION_LIMIT}
        assert report.kinds() - frame_level, report.findings
    else:
        assert report.ok, report.findings  # only the zero fill changed: nothing to report


@FUZZ
@given(st.binary(max_size=4096) | st.binary(max_size=600).map(_recompress))
def test_random_bytes_and_manifests_are_findings(blob):
    assert not verify_bounded(blob, MANIFEST).ok
    assert not verify_bounded(ARCHIVE, blob).ok  # a garbage detached manifest


# The CLI on a few mutated archives: exit 1, findings listed, no traceback. -------

CLI_MUTANTS: dict[str, Callable[[bytes], bytes]] = {
    "flipped-byte": lambda a: a[:900] + bytes([a[900] ^ 0x5A]) + a[901:],
    "truncated": lambda a: a[: len(a) // 2],
    "garbage-appended": lambda a: a + b"\x00garbage" * 16,
    "range-duplicated": lambda a: a[:600] + a[200:600] + a[600:],
    "tar-member-edited": lambda a: _recompress(
        TAR.replace(b"deploy step 7\n", b"deploy step X\n", 1)),
    "tar-truncated": lambda a: _recompress(TAR[:5000]),
    "not-an-archive": lambda a: b"just some text\n",
}


@pytest.mark.parametrize("name", sorted(CLI_MUTANTS))
@pytest.mark.parametrize("with_manifest", [True, False], ids=["manifest", "no-manifest"])
def test_cli_verify_refuses_mutated_archive(tmp_path, name, with_manifest):
    mutant = CLI_MUTANTS[name](ARCHIVE)
    assert mutant != ARCHIVE
    path = tmp_path / f"{TOP}.tar.zst"
    path.write_bytes(mutant)
    argv = ["archive", "verify", str(path)]
    if with_manifest:
        (tmp_path / f"{TOP}.tar.zst.manifest").write_bytes(MANIFEST)
        argv += ["--manifest", str(tmp_path / f"{TOP}.tar.zst.manifest")]
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "fuzzer"}
    result = invoke(argv, env)
    assert "Traceback" not in result.out + result.err
    assert result.code == 1, (result.code, result.out, result.err)
    assert result.out.strip() or result.err.strip(), "a refused archive must say why"


# Bounded memory: hostile archives of up to 10 MB, verified in a child process whose
# own peak RSS (VmHWM) must stay under 256 MB. Each input is built from repeated
# units, so a few megabytes of zstd unfold into hundreds of megabytes of tar,
# members by the hundred thousand, manifests and JSON tag files past every cap.

BOUNDED = settings(
    max_examples=int(os.environ.get("FUZZ_BOUNDED_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INPUT_LIMIT = 10 << 20
PEAK_LIMIT_KIB = 256 * 1024
TAG_NAMES = ["data/f.bin", "bagit.txt", "bag-info.txt", "manifest-sha256.txt",
             "manifest-sha512.txt", "tagmanifest-sha256.txt", "opsledger/events.jsonl",
             "opsledger/proofs.json", "opsledger/roster.jsonl"]
UNITS = [b"0" * 64 + b"  data/x\n", b"[", b'{"a":[', b"\n", b"\x00", b"x",
         b'{"position":1,"state":"{}"}\n', b"Label: value\n"]

CHILD = """
import io, os, sys
from opsledger.archiver.verify.verifier import verify_archive
from opsledger.services.archive_check import provenance_findings
archive = open(sys.argv[1], "rb")
sidecar = open(sys.argv[2], "rb").read() if len(sys.argv) > 2 else None
report = verify_archive(archive, detached_manifest=sidecar)
extra = provenance_findings(report)
peak = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(peak, len(report.findings) + len(extra), report.ok and not extra)
"""


@st.composite
def hostile_inputs(draw: st.DrawFn) -> tuple[list[tuple[str, int, bytes]], int, bytes | None, int | None]:
    members = draw(st.lists(st.tuples(st.sampled_from(TAG_NAMES), st.integers(0, 96 << 20),
                                      st.sampled_from(UNITS)), max_size=5))
    tiny = draw(st.sampled_from([0, 0, 2_000, 110_000]))
    sidecar = draw(st.one_of(
        st.none(), st.just(MANIFEST), st.binary(max_size=512),
        st.integers(1, 4_000_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, INPUT_LIMIT).map(bytes),
    ))
    flip = draw(st.one_of(st.none(), st.integers(0, 1 << 30)))
    return members, tiny, sidecar, flip


def _write_hostile(path: Path, members: list[tuple[str, int, bytes]], tiny: int) -> None:
    cctx = zstandard.ZstdCompressor(level=1, write_checksum=True)
    with open(path, "wb") as raw, cctx.stream_writer(raw) as out, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, size, unit in members:
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = size
            reps = unit * (-(-min(size, 1 << 20) // len(unit)))
            tar.addfile(info, io.BufferedReader(_Repeat(reps, size)) if size else None)
        for i in range(tiny):
            tar.addfile(tarfile.TarInfo(f"{TOP}/data/t{i}"))


class _Repeat(io.RawIOBase):
    def __init__(self, block: bytes, size: int) -> None:
        self.block, self.left = block, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


@pytest.mark.slow
@BOUNDED
@given(hostile_inputs())
def test_hostile_archives_verify_in_bounded_memory(tmp_path_factory, recipe):
    import subprocess
    import sys

    members, tiny, sidecar, flip = recipe
    tmp = tmp_path_factory.mktemp("hostile")
    archive = tmp / f"{TOP}.tar.zst"
    _write_hostile(archive, members, tiny)
    if flip is not None:
        data = bytearray(archive.read_bytes())
        data[flip % len(data)] ^= 0x20
        archive.write_bytes(bytes(data))
    assume(archive.stat().st_size <= INPUT_LIMIT)
    argv = [sys.executable, "-c", CHILD, str(archive)]
    if sidecar is not None:
        (tmp / "sidecar").write_bytes(sidecar)
        argv.append(str(tmp / "sidecar"))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    peak_kib, count, ok = out.stdout.split()
    print(f"hostile input {archive.stat().st_size} B: peak {int(peak_kib) // 1024} MiB, {count} findings")
    assert int(peak_kib) < PEAK_LIMIT_KIB, f"peak RSS {peak_kib} KiB"
    assert int(count) <= 2_000, "findings must be capped"
    assert ok == "False"  # none of these is a sound bag
