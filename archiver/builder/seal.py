"""Sealing a session: bag it into a store in one pass, then prove it by re-reading.

The orchestrator of the archiver's stages (payload scan, bag writer, secret
scan, store writer, verifier). Order matters for the runbook's guarantees:

1. the bag streams straight into the store's create-only writer, hashed,
   compressed and scanned for secrets in the same pass; a secret aborts the
   build, the writer discards what it was given (a local temp file, an S3
   multipart upload that is aborted) and nothing is published. Only then
   are the files holding secrets read again: to number their lines for the
   refusal, or, when redacting, to stage redacted copies, after which the
   bag is built again from those (``seal_redacting``);
2. before the writer publishes, the logs' digests as archived are compared
   with those recorded when their scripts finished: a log changed in between
   aborts the seal, and nothing is published;
3. the archive object is published first, its detached manifest last, so an
   archive without a manifest never counts as sealed;
4. verification re-reads the stored object end to end (never trusting a
   server-side checksum) and reports every finding.

The caller records the seal only after step 3 and the verification only
after step 4, so no sealed event can exist without a complete archive.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opsledger.archiver.builder.bag import (
    BuildResult,
    DeferredTags,
    TagFileContent,
    bag_dir_name,
    build_bag,
)
from opsledger.archiver.errors import ArchiverError
from opsledger.archiver.secrets.redact import Redaction, number_lines, stage_redacted, staging_dir
from opsledger.archiver.secrets.scanner import (
    SecretsFoundError,
    SecretsNotRedactableError,
    TreeScan,
)
from opsledger.archiver.stores.port import ArchiveStore
from opsledger.archiver.stores.records import MANIFEST_SUFFIX, ArchiveInfo, PutResult
from opsledger.archiver.verify.verifier import DEFAULT_LIMITS, VerifyReport, verify_archive

ProgressCallback = Callable[[int, int], object]


class EvidenceAlteredError(ArchiverError):
    """A log archived differs from the digest recorded when its script finished."""

    def __init__(self, altered: Sequence[tuple[str, str, str]]) -> None:
        names = ", ".join(f"{name} (recorded {rec[:12]}…, archived {got[:12]}…)"
                          for name, rec, got in altered)
        super().__init__(f"evidence altered after the fact, nothing sealed: {names}")
        self.altered = list(altered)


@dataclass(frozen=True)
class SealRequest:
    ticket_key: str
    session_date: str  # ISO date; also the Bagging-Date, so reruns are byte-identical
    source_dir: Path
    bag_info: Sequence[tuple[str, str]] = ()
    tag_files: Mapping[str, TagFileContent] = field(default_factory=dict)
    # payload path relative to the session folder -> sha256 recorded on the ticket
    recorded_digests: Mapping[str, str] = field(default_factory=dict)
    level: int = 3
    scan_secrets: bool = True
    # Called once the payload has passed the secret scan, for more bag-info
    # lines and tag files: what they cost or record happens only for a seal.
    deferred_tags: DeferredTags | None = None

    @property
    def archive_name(self) -> str:
        return f"{bag_dir_name(self.ticket_key, self.session_date)}.tar.zst"


@dataclass(frozen=True)
class Sealed:
    name: str
    location: str
    archive_sha256: str
    archive_size: int
    manifest_sha256: str
    location_hash: str
    file_count: int
    payload_bytes: int
    reused: bool
    put: PutResult
    secret_scan: TreeScan | None = None  # what was scanned (and skipped: see its ``skipped``)


def seal(store: ArchiveStore, request: SealRequest,
         progress: ProgressCallback | None = None) -> Sealed:
    """Builds and publishes the archive and its detached manifest; a secret
    in the payload refuses with ``SecretsFoundError`` (file:line:kind)."""
    try:
        return _seal_once(store, request, progress)
    except SecretsFoundError as found:
        if found.scan is None:
            raise
        numbered = number_lines(request.source_dir, found.scan)
        raise SecretsFoundError(numbered.findings, numbered) from None


def seal_redacting(
    store: ArchiveStore,
    request: SealRequest,
    redacted: Callable[[list[Redaction]], SealRequest],
    progress: ProgressCallback | None = None,
) -> tuple[Sealed, list[Redaction]]:
    """Seals; when the payload holds secrets, seals redacted copies instead.

    The copies are staged beside the session folder (which is never
    written), ``redacted(redactions)`` puts the alteration on the record and
    returns the request to seal now (its tags tell of the redaction), and
    the bag is built again from the staging folder, scanned again too.
    Secrets inside compressed files refuse (``SecretsNotRedactableError``):
    their bytes cannot be replaced without re-creating the file.
    """
    try:
        return _seal_once(store, request, progress), []
    except SecretsFoundError as found:
        if found.scan is None:
            raise
        scan = found.scan
    packed = [f for s in scan.files if not s.redactable for f in s.findings]
    if packed:
        raise SecretsNotRedactableError(packed, scan)
    with staging_dir(request.source_dir) as staging:
        redactions = stage_redacted(request.source_dir, scan, Path(staging))
        again = dataclasses.replace(redacted(redactions), source_dir=Path(staging))
        return seal(store, again, progress), redactions


def _seal_once(store: ArchiveStore, request: SealRequest,
               progress: ProgressCallback | None) -> Sealed:
    name = request.archive_name
    with store.open_writer(name) as out:
        built = build_bag(
            request.source_dir,
            out,
            ticket_key=request.ticket_key,
            session_date=request.session_date,
            bag_info=list(request.bag_info),
            tag_files=dict(request.tag_files),
            progress=progress,
            level=request.level,
            bagging_date=request.session_date,
            scan_secrets=request.scan_secrets,
            deferred_tags=request.deferred_tags,
        )
        _refuse_altered(built, request.recorded_digests)
        put = out.commit()
    manifest = built.detached_manifest
    store.put_manifest(name, manifest)
    payload = [f for f in built.files if f.path.startswith("data/")]
    return Sealed(
        name=name,
        location=put.location,
        archive_sha256=built.archive_sha256,
        archive_size=built.archive_size,
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        location_hash=put.location_hash,
        file_count=len(payload),
        payload_bytes=sum(f.size for f in payload),
        reused=put.reused,
        put=put,
        secret_scan=built.secret_scan,
    )


def _refuse_altered(built: BuildResult, recorded: Mapping[str, str]) -> None:
    archived = {f.path.removeprefix("data/"): f.sha256 for f in built.files}
    altered = [(path, sha, archived.get(path, "missing"))
               for path, sha in sorted(recorded.items()) if archived.get(path) != sha]
    if altered:
        raise EvidenceAlteredError(altered)


@dataclass(frozen=True)
class StoredVerification:
    name: str
    info: ArchiveInfo
    report: VerifyReport
    findings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_stored(store: ArchiveStore, name: str, *,
                  progress: ProgressCallback | None = None,
                  expected_sha256: str | None = None) -> StoredVerification:
    """Re-reads a stored archive end to end and checks it against its manifest."""
    info = store.stat(name)
    findings: list[str] = []
    if not info.archive_present:
        findings.append(f"{name}: archive object is missing from {info.location}")
        return StoredVerification(name, info, VerifyReport(), tuple(findings))
    manifest = store.get_manifest(name, max_bytes=DEFAULT_LIMITS.max_detached_manifest + 1)
    if manifest is None:
        findings.append(f"{name}{MANIFEST_SUFFIX}: missing; the archive is incomplete, "
                        "never sealed")
    stream = store.open_archive(name)
    try:
        report = verify_archive(stream, detached_manifest=manifest, progress=progress)
    finally:
        stream.close()
    findings.extend(str(f) for f in report.findings)
    if expected_sha256 is not None and report.archive_sha256 != expected_sha256:
        findings.append(f"{name}: sha256 {report.archive_sha256} differs from the sealed "
                        f"{expected_sha256}")
    return StoredVerification(name, info, report, tuple(findings))
