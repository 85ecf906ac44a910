"""Write a session folder as a BagIt 1.0 bag inside one zstd-compressed tar.

One pass, bounded memory: the payload reader thread reads each file once
into pooled buffers and digests them (sha256, sha512) while this thread
frames the tar and zstd's own worker threads compress, so reading, hashing
and compression overlap on all cores. Manifests are only known once the
payload has streamed past, so every computed tag file follows ``data/`` in
the tar; only the constant ``bagit.txt`` precedes it.

Tar order: ``<top>/``, ``bagit.txt``, ``data/`` and its directories, payload
files, ``bag-info.txt``, caller tag files (sorted), ``manifest-sha256.txt``,
``manifest-sha512.txt``, ``tagmanifest-sha256.txt``, ``tagmanifest-sha512.txt``.

With ``scan_secrets`` the same chunks also go through the secret scan
(``secret_stage``); a finding stops the compression and raises
``SecretsFoundError`` once every file has been scanned, before any tag file
is written (or ``deferred_tags`` is asked for): the caller discards ``out``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import zstandard
from opsledger.archiver import bagit_paths
from opsledger.archiver.builder.reader import (
    BEGIN,
    DATA,
    DONE,
    END,
    FAILED,
    BufferPool,
    Chunk,
    PayloadReader,
)
from opsledger.archiver.builder.secret_stage import SecretScanStage
from opsledger.archiver.builder.tarstream import TarStreamWriter
from opsledger.archiver.detached import DetachedFile, DetachedManifest
from opsledger.archiver.errors import ArchiveWriteError, BagInputError
from opsledger.archiver.payload import PayloadPlan, scan_payload
from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.scanner import SecretsFoundError, TreeScan

DEFAULT_LEVEL = 3
DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_BUFFERS = 16  # read-ahead past what zstd has taken; more measured no faster
_OUT_CHUNK = 1 << 20
_SPOOL_IN_MEMORY = 8 << 20  # iterable tag files larger than this spill to a temp file

_TICKET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

TagFileContent = bytes | Iterable[bytes]
ProgressCallback = Callable[[int, int], object]
# More bag-info lines and tag files, known only once the payload has passed the scan.
# Called once the payload is read, with each payload file's (path under data/,
# size, sha256): returns bag-info lines and tag files to add.
DeferredTags = Callable[
    [Sequence[tuple[str, int, str]]],
    tuple[Sequence[tuple[str, str]], Mapping[str, TagFileContent]],
]


@dataclass(frozen=True)
class ArchivedFile:
    path: str  # relative to the bag's top-level directory, e.g. "data/deploy.log"
    size: int
    sha256: str
    sha512: str


@dataclass(frozen=True)
class BuildResult:
    archive_name: str  # "<ticket>-<session date>.tar.zst"
    top_dir: str  # "<ticket>-<session date>"
    archive_sha256: str
    archive_size: int
    tar_size: int
    payload_oxum: str
    files: tuple[ArchivedFile, ...]  # in tar order
    manifest: DetachedManifest
    secret_scan: TreeScan | None = None  # None when the build did not scan

    @property
    def detached_manifest(self) -> bytes:
        """Canonical JSON bytes to store beside the archive."""
        return self.manifest.to_bytes()


def bag_dir_name(ticket_key: str, session_date: str) -> str:
    """Validated ``<ticket>-<session date>``: the top-level directory and file stem."""
    if not isinstance(ticket_key, str) or not _TICKET_KEY.fullmatch(ticket_key) or ".." in ticket_key:
        raise BagInputError(
            f"ticket key {ticket_key!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    return f"{ticket_key}-{_iso_date(session_date, 'session date')}"


def _iso_date(value: object, what: str) -> str:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise BagInputError(f"{what} {value!r} must be a YYYY-MM-DD date") from None
    return value


class _HashingSink:
    """The caller's stream, behind a sha256 and a byte counter."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        view = memoryview(data)
        try:
            while view:
                written = self._out.write(view)
                if written is None or written >= len(view):
                    break
                view = view[written:]
        except OSError as exc:
            raise ArchiveWriteError(f"output stream refused archive bytes: {exc}") from None
        self.size += len(data)
        return len(data)


class _TagRecorder:
    """Writes small tag files and remembers their digests for tagmanifest."""

    def __init__(self, tar: TarStreamWriter, top: str, mtime: int) -> None:
        self._tar = tar
        self._top = top
        self._mtime = mtime
        self._dirs: set[str] = set()
        self.files: list[ArchivedFile] = []

    def add_bytes(self, name: str, data: bytes) -> None:
        self._ensure_parents(name)
        self._tar.add_file_bytes(f"{self._top}/{name}", data, self._mtime)
        self.files.append(
            ArchivedFile(name, len(data), hashlib.sha256(data).hexdigest(),
                         hashlib.sha512(data).hexdigest())
        )

    def add_iterable(self, name: str, pieces: Iterable[bytes]) -> None:
        h256, h512, size = hashlib.sha256(), hashlib.sha512(), 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            for piece in pieces:
                if not isinstance(piece, bytes | bytearray | memoryview):
                    raise BagInputError(
                        f"tag file {name!r} yielded {type(piece).__name__}, expected bytes"
                    )
                h256.update(piece)
                h512.update(piece)
                spool.write(piece)
                size += len(piece)
            spool.seek(0)
            self._ensure_parents(name)
            self._tar.begin_file(f"{self._top}/{name}", size, self._mtime)
            while block := spool.read(_OUT_CHUNK):
                self._tar.write(block)
            self._tar.end_file()
        self.files.append(ArchivedFile(name, size, h256.hexdigest(), h512.hexdigest()))

    def _ensure_parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            rel = "/".join(parts[:depth])
            if rel not in self._dirs:
                self._dirs.add(rel)
                self._tar.add_directory(f"{self._top}/{rel}", self._mtime)


def _check_tag_files(tag_files: Mapping[str, TagFileContent] | None) -> list[tuple[str, object]]:
    if tag_files is None:
        return []
    checked = []
    for name in sorted(tag_files):
        content = tag_files[name]
        bagit_paths.check_tag_file_name(name)
        if isinstance(content, str) or not isinstance(content, bytes | bytearray | Iterable):
            raise BagInputError(
                f"tag file {name!r} content must be bytes or an iterable of bytes,"
                f" not {type(content).__name__}"
            )
        checked.append((name, content))
    return checked


def build_bag(
    source_dir: Path,
    out: BinaryIO,
    *,
    ticket_key: str,
    session_date: str,
    bag_info: Sequence[tuple[str, str]] = (),
    tag_files: Mapping[str, TagFileContent] | None = None,
    progress: ProgressCallback | None = None,
    level: int = DEFAULT_LEVEL,
    threads: int = -1,
    bagging_date: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    buffers: int = DEFAULT_BUFFERS,
    scan_secrets: bool = False,
    scan_engine: secret_hits.HitFinder | None = None,
    deferred_tags: DeferredTags | None = None,
) -> BuildResult:
    """Stream ``source_dir`` as a bagged ``.tar.zst`` into ``out``.

    ``out`` is written sequentially and never closed. On any exception the
    bytes already written are an unfinished zstd frame (``zstd -t`` rejects
    them) and must be discarded. ``progress(done, total)`` counts payload
    bytes. ``bagging_date`` defaults to today (UTC); fixing it makes the
    archive byte-for-byte reproducible. ``deferred_tags(payload)`` is called
    once, after the payload, with each file's (path, size, sha256), for
    bag-info lines and tag files added to the others.
    """
    top = bag_dir_name(ticket_key, session_date)
    fields = bagit_paths.check_bag_info_fields(bag_info)
    extra_tags = _check_tag_files(tag_files)
    bagged_on = _iso_date(bagging_date, "bagging date") if bagging_date is not None else (
        datetime.now(UTC).date().isoformat()
    )
    if not isinstance(level, int) or not 1 <= level <= 22:
        raise BagInputError(f"zstd level {level!r} must be an integer from 1 to 22")
    if chunk_size < 64 << 10 or buffers < 2:
        raise BagInputError("chunk_size must be at least 64 KiB and buffers at least 2")
    plan = scan_payload(Path(source_dir))
    tag_mtime = int(datetime.fromisoformat(bagged_on).replace(tzinfo=UTC).timestamp())

    sink = _HashingSink(out)
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    zwriter = compressor.stream_writer(sink, closefd=False, write_size=_OUT_CHUNK)
    tar = TarStreamWriter(zwriter.write)
    tags = _TagRecorder(tar, top, tag_mtime)

    tar.add_directory(top, tag_mtime)
    tags.add_bytes("bagit.txt", bagit_paths.BAGIT_TXT)
    tar.add_directory(f"{top}/data", tag_mtime)
    for rel, mtime in plan.directories:
        tar.add_directory(f"{top}/data/{rel}", mtime)
    stage = SecretScanStage(plan, engine=scan_engine) if scan_secrets else None
    payload, scanned = _write_payload(plan, tar, top, progress, chunk_size, buffers, stage)
    if scanned is not None and scanned.findings:
        raise SecretsFoundError(scanned.findings, scanned)
    if deferred_tags is not None:
        more_info, more_tags = deferred_tags(
            [(f.path.removeprefix("data/"), f.size, f.sha256) for f in payload]
        )
        fields += bagit_paths.check_bag_info_fields(more_info)
        extra_tags = _check_tag_files({**dict(extra_tags), **dict(more_tags)})

    oxum = f"{sum(f.size for f in payload)}.{len(payload)}"
    info = [("Payload-Oxum", oxum), ("Bagging-Date", bagged_on),
            ("External-Identifier", ticket_key), *fields]
    tags.add_bytes("bag-info.txt", bagit_paths.bag_info_text(info))
    for name, content in extra_tags:
        if isinstance(content, bytes | bytearray):
            tags.add_bytes(name, bytes(content))
        else:
            tags.add_iterable(name, content)  # type: ignore[arg-type]
    for alg in ("sha256", "sha512"):
        entries = [(f.path, getattr(f, alg)) for f in payload]
        tags.add_bytes(f"manifest-{alg}.txt", bagit_paths.manifest_text(entries))
    listed = list(tags.files)  # tag manifests list every tag file but each other
    for alg in ("sha256", "sha512"):
        entries = [(f.path, getattr(f, alg)) for f in listed]
        tags.add_bytes(f"tagmanifest-{alg}.txt", bagit_paths.manifest_text(entries))
    tar.close()
    zwriter.close()  # ends the zstd frame; closefd=False leaves ``out`` open

    bagit_txt, *rest = tags.files
    files = (bagit_txt, *payload, *rest)
    manifest = DetachedManifest(
        archive_name=f"{top}.tar.zst",
        archive_sha256=sink.sha256.hexdigest(),
        archive_size=sink.size,
        tar_size=tar.size,
        top_dir=top,
        ticket_key=ticket_key,
        session_date=session_date,
        payload_oxum=oxum,
        files=tuple(DetachedFile(f.path, f.size, f.sha256) for f in files),
    )
    return BuildResult(
        archive_name=manifest.archive_name,
        top_dir=top,
        archive_sha256=manifest.archive_sha256,
        archive_size=manifest.archive_size,
        tar_size=tar.size,
        payload_oxum=oxum,
        files=files,
        manifest=manifest,
        secret_scan=scanned,
    )


def _write_payload(
    plan: PayloadPlan,
    tar: TarStreamWriter,
    top: str,
    progress: ProgressCallback | None,
    chunk_size: int,
    buffers: int,
    stage: SecretScanStage | None,
) -> tuple[list[ArchivedFile], TreeScan | None]:
    """Drive the reader thread (which also scans); this thread frames tar and feeds zstd."""
    total = plan.total_bytes
    done_bytes = 0
    cancel = threading.Event()
    pool = BufferPool(buffers, chunk_size, cancel)
    reader = PayloadReader(plan, ("sha256", "sha512"), pool, cancel, tap=stage)
    writing = True  # until a secret is found: then the archive is lost anyway
    if progress is not None:
        progress(0, total)
    reader.start()
    try:
        while True:
            kind, value = reader.messages.get()
            if writing and stage is not None and stage.found.is_set():
                writing = False
            if kind == DATA:
                chunk: Chunk = value  # type: ignore[assignment]
                try:
                    if writing:
                        tar.write(chunk.view)
                    done_bytes += len(chunk.view)
                finally:
                    chunk.done()
                if progress is not None:
                    progress(done_bytes, total)
            elif kind == BEGIN and writing:
                index, mtime = value  # type: ignore[misc]
                item = plan.files[index]
                tar.begin_file(f"{top}/data/{item.rel}", item.size, mtime, item.mode)
            elif kind == END and writing:
                tar.end_file()
            elif kind == DONE:
                break
            elif kind == FAILED:
                raise value  # type: ignore[misc]
    finally:
        cancel.set()  # no-op after DONE; stops a reader still running after a failure
        reader.join()
        if stage is not None:
            stage.close()
    sha256, sha512 = reader.digests["sha256"], reader.digests["sha512"]
    payload = [
        ArchivedFile(f"data/{item.rel}", item.size, sha256[i], sha512[i])
        for i, item in enumerate(plan.files)
    ]
    return payload, (stage.result(sha256) if stage is not None else None)
