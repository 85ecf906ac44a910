"""Read-only, offline verification of a bag ``.tar.zst``, in one streaming pass.

Nothing is extracted: the compressed stream is hashed as it is read, a
decompressor thread (zstd releases the GIL) feeds the tar scanner, and each
member's bytes go to sha256/sha512 workers on other cores. Hostile members
(absolute paths, ``..``, links, devices, members outside the top directory,
duplicates) are reported and never hashed or extracted. Every problem becomes
a typed ``Finding``; a corrupt or truncated archive gives findings, not an
exception.

Bounded: every input has a cap (``limits.Limits``, tabled there and in the
README): the detached manifest's size, the number of members and their path
lengths, the tag files kept in memory, manifest lines, JSON depth and size
of the JSON tag files, findings kept per kind. Past a cap the pass stops
with one ``limit-exceeded`` finding and only hashes the rest of the input,
so any archive verifies in memory that depends on the caps, not on it.
The zstd layer is checked whole: the frame's content checksum, skippable
frames and anything after the frame are findings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from opsledger.archiver.detached import DetachedManifest
from opsledger.archiver.errors import DetachedManifestError, TarFormatError, TarTruncatedError
from opsledger.archiver.tarscan import MemberKind, TarMember, TarScanner
from opsledger.archiver.verify.bagcheck import (
    BagChecker,
    BagInventory,
    VerifiedFile,
    is_parsed_tag,
    is_payload,
)
from opsledger.archiver.verify.decompress import Decompressor, InputTap, StreamStopped
from opsledger.archiver.verify.digests import DigestWorker
from opsledger.archiver.verify.findings import Finding, FindingKind, FindingLog, finding
from opsledger.archiver.verify.limits import DEFAULT_LIMITS, LimitExceeded, Limits, check_json

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_DECOMPRESSED",
    "DEFAULT_MAX_RATIO",
    "Finding",
    "FindingKind",
    "Limits",
    "VerifiedFile",
    "VerifyReport",
    "verify_archive",
]

DEFAULT_MAX_DECOMPRESSED = 1 << 40  # 1 TiB of tar
DEFAULT_MAX_RATIO = 1000  # decompressed / compressed, checked past RATIO_FLOOR
DEFAULT_MAX_TAG_FILE = DEFAULT_LIMITS.max_tag_file  # tag files kept in memory
MAX_META = 64 << 10  # one pax header or GNU long name

VerifyProgress = Callable[[int, int | None], object]
_EMPTY_SHA256 = hashlib.sha256().hexdigest()
_EMPTY_SHA512 = hashlib.sha512().hexdigest()


@dataclass
class VerifyReport:
    findings: list[Finding] = field(default_factory=list)
    files: dict[str, VerifiedFile] = field(default_factory=dict)  # regular files, by bag path
    top_dir: str | None = None
    bag_info: list[tuple[str, str]] = field(default_factory=list)
    tag_files: dict[str, bytes] = field(default_factory=dict)  # small tag files' contents
    unkept_tags: set[str] = field(default_factory=set)  # tag files past the keep cap: hashed only
    archive_sha256: str = ""
    archive_size: int = 0
    tar_size: int = 0  # decompressed bytes seen
    limited: bool = False  # a cap was passed: the pass stopped, nothing after it was judged

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[FindingKind]:
        return {f.kind for f in self.findings}


class MemberSink(Protocol):
    """Receives admitted members during the pass (``extract_safe`` writes them)."""

    def directory(self, parts: tuple[str, ...], member: TarMember) -> None: ...

    def open_file(self, parts: tuple[str, ...], member: TarMember) -> object: ...

    def write(self, handle: object, data: memoryview) -> None: ...

    def close_file(self, handle: object, member: TarMember) -> None: ...


class ArchiveVerifier:
    """One verification pass; ``extract_safe`` plugs a ``MemberSink`` in."""

    def __init__(
        self,
        *,
        detached_manifest: bytes | None = None,
        max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
        max_ratio: float = DEFAULT_MAX_RATIO,
        max_tag_file: int | None = None,
        limits: Limits = DEFAULT_LIMITS,
        progress: VerifyProgress | None = None,
        sink: MemberSink | None = None,
    ) -> None:
        self.report = VerifyReport()
        self.caps = limits
        self._log = FindingLog(limits.max_findings_per_kind)
        self._limits = (max_decompressed, max_ratio)
        self._max_tag_file = limits.max_tag_file if max_tag_file is None else max_tag_file
        self._tag_budget = limits.max_tag_total
        self._members = 0
        self._stopped = False  # a cap stopped the pass: the inventory is partial
        self._path_bytes = 0
        self._progress = progress
        self._sink = sink
        self._detached: DetachedManifest | None = None
        if detached_manifest is not None:
            self._detached = self._read_detached(detached_manifest)
        self._top = self._detached.top_dir if self._detached else None
        self._seen: set[str] = set()
        self._inventory = BagInventory()
        self._pending: list[tuple[int, str, int]] = []
        self._current: str | None = None

    def _add(self, kind: FindingKind, path: str | None, message: str, **values: object) -> None:
        self._log.add(finding(kind, path, message, **values))

    def _limit(self, exceeded: LimitExceeded, *, stop: bool = True) -> None:
        self.report.limited = True
        self._stopped = self._stopped or stop
        self._log.add(exceeded.finding)

    def _read_detached(self, data: bytes) -> DetachedManifest | None:
        try:
            if len(data) > self.caps.max_detached_manifest:
                raise LimitExceeded("the detached manifest's size", self.caps.max_detached_manifest,
                                    f"at least {len(data)} bytes", then="not read")
            check_json(data, None, self.caps)
            return DetachedManifest.from_bytes(data)
        except LimitExceeded as exc:
            self._limit(exc, stop=False)  # the archive itself is still checked
        except DetachedManifestError as exc:
            self._add(FindingKind.DETACHED_INVALID, None, str(exc))
        return None

    def run(self, stream: BinaryIO) -> VerifyReport:
        tap = InputTap(stream)
        producer = Decompressor(tap, *self._limits)
        workers = [DigestWorker(alg, max_pending=16) for alg in ("sha256", "sha512")]
        scanner = TarScanner(self._with_progress(producer.chunks(), tap), max_meta=MAX_META)
        stream_ok = False
        try:
            try:
                for member in scanner:
                    self._member(member, scanner, workers)
                if scanner.trailing_data:
                    self._add(FindingKind.TRAILING_DATA, None,
                              "non-zero bytes follow the tar end-of-archive marker")
                stream_ok = True
            except LimitExceeded as exc:
                self._limit(exc)
                producer.skip_rest()
            except TarTruncatedError as exc:
                self._add(FindingKind.ARCHIVE_TRUNCATED, self._current, str(exc))
            except TarFormatError as exc:
                self._add(FindingKind.ARCHIVE_CORRUPT, self._current, str(exc))
            except StreamStopped as stop:
                f = stop.finding
                self._log.add(Finding(f.kind, self._current, f.expected, f.actual, f.message))
            producer.finish()
        except BaseException:
            producer.abandon()
            raise
        finally:
            for worker in workers:
                worker.close()
        self._check_frames(tap, stream_ok)
        self._collect(workers)
        if not self._stopped:
            try:
                self._bag_findings()
                self._check_tag_json()
            except LimitExceeded as exc:
                self._limit(exc)
        self._check_detached(producer)
        self.report.findings = self._log.findings()
        self.report.archive_sha256 = tap.sha256.hexdigest()
        self.report.archive_size = tap.size
        self.report.tar_size = producer.total
        self.report.top_dir = self._top
        return self.report

    def _with_progress(self, chunks: Iterator[bytes], tap: InputTap) -> Iterator[bytes]:
        expected = self._detached.archive_size if self._detached else None
        for chunk in chunks:
            if self._progress is not None:
                self._progress(tap.size, expected)
            yield chunk

    def _check_frames(self, tap: InputTap, stream_ok: bool) -> None:
        frames = tap.frames
        if frames.skippable_count:
            where = ", ".join(f"{size} bytes at offset {at}" for at, size in frames.skippable)
            self._add(FindingKind.SKIPPABLE_FRAME, None,
                      f"{frames.skippable_count} zstd skippable frame(s), which decoders pass "
                      f"over unseen: {where}")
        if frames.error is not None and frames.frames:
            self._add(FindingKind.TRAILING_DATA, None, f"bytes after the zstd frame: {frames.error}")
        elif frames.frames > 1:
            self._add(FindingKind.TRAILING_DATA, None,
                      f"{frames.frames - 1} more zstd frame(s) after the archive's frame")
        elif stream_ok and not frames.complete:
            self._add(FindingKind.ARCHIVE_TRUNCATED, None,
                      f"the zstd frame is cut short after {tap.size} compressed bytes")

    # -- members -------------------------------------------------------------

    def _admit(self, member: TarMember) -> tuple[str, ...] | None:
        """Apply the hostile-member rules; the member's path parts if admitted."""
        name = member.name
        problems: list[tuple[FindingKind, str]] = []
        parts = tuple(name.split("/"))
        if not member.name_is_utf8:
            problems.append((FindingKind.UNSAFE_PATH, "member name is not valid UTF-8"))
        if name.startswith("/"):
            problems.append((FindingKind.UNSAFE_PATH, "absolute member path"))
        elif any(p in ("", ".", "..") for p in parts):
            problems.append((FindingKind.UNSAFE_PATH, "member path has '..', '.' or empty parts"))
        elif self._top is None:
            self._top = parts[0]
        if not name.startswith("/") and parts[0] != self._top:
            problems.append((FindingKind.OUTSIDE_TOP_DIR,
                             f"member is outside the top-level directory {self._top!r}"))
        elif len(parts) == 1 and member.kind is not MemberKind.DIRECTORY:
            problems.append((FindingKind.OUTSIDE_TOP_DIR, "member sits beside the top-level directory"))
        if member.kind in (MemberKind.SYMLINK, MemberKind.HARDLINK):
            problems.append((FindingKind.LINK_MEMBER,
                             f"{member.kind} to {member.linkname!r} is not allowed in a bag"))
        elif member.kind not in (MemberKind.FILE, MemberKind.DIRECTORY):
            problems.append((FindingKind.SPECIAL_MEMBER,
                             f"{member.kind} member (tar type {member.type_flag!r}) is not allowed"))
        if name in self._seen:
            problems.append((FindingKind.DUPLICATE_MEMBER, "the archive holds this path twice"))
        self._seen.add(name)
        for kind, message in problems:
            self._add(kind, name, message)
        return None if problems else parts

    def _count(self, member: TarMember) -> None:
        caps = self.caps
        self._members += 1
        if self._members > caps.max_members:
            raise LimitExceeded("the number of tar members", caps.max_members,
                                f"more than {caps.max_members}")
        size = len(member.name.encode("utf-8", "surrogateescape"))
        if size > caps.max_path:
            raise LimitExceeded("a member's path", f"{caps.max_path} bytes", f"{size} bytes",
                                member.name[:256])
        self._path_bytes += size
        if self._path_bytes > caps.max_paths_total:
            raise LimitExceeded("the members' paths together", f"{caps.max_paths_total} bytes",
                                f"more than {caps.max_paths_total} bytes")

    def _capture(self, rel: str, size: int) -> bytearray | None:
        """A buffer to keep a tag file in, or None when it is only hashed; a
        tag file the bag checks must parse is a cap passed when it cannot be kept."""
        if size <= min(self._max_tag_file, self._tag_budget):
            self._tag_budget -= size
            return bytearray()
        if is_parsed_tag(rel):
            raise LimitExceeded("a tag file the bag checks parse",
                                f"{min(self._max_tag_file, self._tag_budget)} bytes (left)",
                                f"{size} bytes", rel)
        self._inventory.oversized_tags.add(rel)
        self.report.unkept_tags.add(rel)
        return None

    def _member(self, member: TarMember, scanner: TarScanner, workers: list[DigestWorker]) -> None:
        self._count(member)
        parts = self._admit(member)
        if parts is None:
            return
        rel = "/".join(parts[1:])
        if member.kind is MemberKind.DIRECTORY:
            if rel:
                self._inventory.directories.add(rel)
            if self._sink is not None:
                self._sink.directory(parts, member)
            return
        self._current = rel
        index = len(self._pending)
        hashed = [] if member.size == 0 else workers  # empty: known digests, no thread hop
        for worker in hashed:
            worker.begin(index)
        capture = None if is_payload(rel) else self._capture(rel, member.size)
        handle = self._sink.open_file(parts, member) if self._sink is not None else None
        for view in scanner.data():
            for worker in hashed:
                worker.feed(view)
            if capture is not None:
                capture += view
            if handle is not None:
                self._sink.write(handle, view)  # type: ignore[union-attr]
        for worker in hashed:
            worker.end()
        if handle is not None:
            self._sink.close_file(handle, member)  # type: ignore[union-attr]
        if capture is not None:
            self._inventory.tag_contents[rel] = bytes(capture)
            del capture
        self._pending.append((index, rel, member.size))
        self._current = None

    def _collect(self, workers: list[DigestWorker]) -> None:
        sha256, sha512 = workers[0].digests, workers[1].digests
        for index, rel, size in self._pending:
            if size == 0:
                self._inventory.files[rel] = VerifiedFile(rel, 0, _EMPTY_SHA256, _EMPTY_SHA512)
            else:
                self._inventory.files[rel] = VerifiedFile(rel, size, sha256[index], sha512[index])
        self._pending.clear()
        sha256.clear()
        sha512.clear()
        self.report.files = dict(self._inventory.files)
        self.report.tag_files = dict(self._inventory.tag_contents)

    def _bag_findings(self) -> None:
        if self._top is None:
            self._add(FindingKind.BAG_STRUCTURE, None, "the archive holds no bag")
            return
        checker = BagChecker(self._inventory, self._log, self.caps)
        checker.run()
        self.report.bag_info = checker.bag_info

    def _check_tag_json(self) -> None:
        """JSON tag files (events, roster, proofs...) within the JSON caps, before
        anyone parses them."""
        for rel, data in self.report.tag_files.items():
            if rel.endswith((".json", ".jsonl")):
                check_json(data, rel, self.caps, lines=rel.endswith(".jsonl"))

    def _check_detached(self, producer: Decompressor) -> None:
        d = self._detached
        if d is None:
            return
        tap = producer.tap
        mismatch = FindingKind.DETACHED_MISMATCH
        if tap.size != d.archive_size:
            self._add(mismatch, None, "archive size differs from the detached manifest",
                      expected=d.archive_size, actual=tap.size)
        if tap.sha256.hexdigest() != d.archive_sha256:
            self._add(mismatch, None, "archive sha256 differs from the detached manifest",
                      expected=d.archive_sha256, actual=tap.sha256.hexdigest())
        if producer.completed and producer.total != d.tar_size:
            self._add(mismatch, None, "tar size differs from the detached manifest",
                      expected=d.tar_size, actual=producer.total)
        if self._stopped:
            return  # the inventory is partial: listing its differences would mislead
        listed = {}
        for entry in d.files:
            listed[entry.path] = entry
            actual = self._inventory.files.get(entry.path)
            if actual is None:
                self._add(FindingKind.DETACHED_MISSING, entry.path,
                          "listed in the detached manifest but not in the archive")
                continue
            if actual.size != entry.size:
                self._add(mismatch, entry.path, "size differs from the detached manifest",
                          expected=entry.size, actual=actual.size)
            if actual.sha256 != entry.sha256:
                self._add(mismatch, entry.path, "sha256 differs from the detached manifest",
                          expected=entry.sha256, actual=actual.sha256)
        for path in sorted(set(self._inventory.files) - set(listed)):
            self._add(FindingKind.DETACHED_UNLISTED, path,
                      "in the archive but not in the detached manifest")


def verify_archive(
    stream: BinaryIO,
    *,
    detached_manifest: bytes | None = None,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    max_ratio: float = DEFAULT_MAX_RATIO,
    max_tag_file: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    """Verify a bag ``.tar.zst`` read sequentially from ``stream``.

    Reads the stream to its end and writes nothing anywhere. ``progress``
    gets (compressed bytes read, archive size from the detached manifest or
    None). Exceptions raised by ``stream`` itself other than OSError
    propagate; everything wrong with the archive is a finding. ``limits``
    are the caps (``limits.Limits``); ``max_tag_file`` overrides its
    ``max_tag_file``.
    """
    return ArchiveVerifier(
        detached_manifest=detached_manifest,
        max_decompressed=max_decompressed,
        max_ratio=max_ratio,
        max_tag_file=max_tag_file,
        limits=limits,
        progress=progress,
    ).run(stream)
