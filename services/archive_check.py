"""Checking archives: a ticket's sealed archive (re-read and recorded), a
downloaded file or an s3:// object (offline, no database needed), and the
store's listing. The checking itself is the archiver's read-only verifier."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.ssh_signing import CryptographyVerifier
from opsledger.archiver.builder.seal import verify_stored
from opsledger.archiver.verify.authority import authority_findings
from opsledger.archiver.verify.binding import binding_findings
from opsledger.archiver.verify.identity import identity_findings
from opsledger.archiver.verify.limits import DEFAULT_LIMITS
from opsledger.archiver.verify.proof_format import CHECKPOINT, EVENTS, PROOFS, ROSTER
from opsledger.archiver.verify.verifier import verify_archive
from opsledger.domain.ticket import TICKET_KEY
from opsledger.services.checkpoints import PUBLISHED
from opsledger.services.errors import InvalidRequest, Refused
from opsledger.services.ledger_archive import archive_proof_findings, quorum_findings
from opsledger.services.log_keys import own_verifiers
from opsledger.services.trust import read_trust

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

# (phase, bytes done, bytes in all or None): "sealing", then "verifying".
PhaseProgress = Callable[[str, int, int | None], None]
Notify = Callable[[str], None]


def _no_progress(_phase: str, _done: int, _total: int | None = None) -> None:
    pass


def _silent(_: str) -> None:
    pass


def phase(progress: PhaseProgress, name: str) -> Callable[..., None]:
    """The archiver's (done, total) callback for one phase."""

    def update(done: int, total: int | None = None) -> None:
        progress(name, done, total)

    return update


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def retention_findings(info: Any) -> list[str]:
    """Object Lock policy: on a store that keeps retention, COMPLIANCE mode
    until at least the configured period from now."""
    if info.retention_mode is None:
        return []
    found = []
    if info.retention_mode != "COMPLIANCE":
        found.append(f"{info.name}: retention mode {info.retention_mode}, policy is COMPLIANCE")
    if info.retain_until is not None and info.retain_until <= datetime.now(UTC):
        found.append(f"{info.name}: retention expired on {iso(info.retain_until)}")
    return found


REPLAYED = (EVENTS, ROSTER, PROOFS, CHECKPOINT)  # the tag files provenance reads


def provenance_findings(report: Any) -> list[str]:
    """What the archive proves of who recorded what, replayed from the archive
    alone: the roster's authority for each event, each event's signature, and
    each payload file against the signed events that recorded its digest.

    Nothing is replayed from an archive whose verification stopped at a cap;
    a tag file it replays that was too large to keep is one finding."""
    if report.limited:
        return []
    unkept = [name for name in REPLAYED if name in report.unkept_tags]
    if unkept:
        return [f"limit-exceeded {unkept[0]!r}: larger than the verifier keeps to replay "
                f"(expected <= {DEFAULT_LIMITS.max_tag_file} bytes)"]
    return (authority_findings(report.tag_files)
            + identity_findings(report.tag_files, CryptographyVerifier())
            + binding_findings(report.tag_files, report.files))


def _open_target(
    services: Services, target: str, manifest: Path | None
) -> tuple[Any, bytes | None, str]:
    """(stream, detached manifest bytes, label) for a file path or s3:// URI."""
    if target.startswith("s3://"):
        store, name = services.store_and_name(target)
        detached = store.get_manifest(name, max_bytes=DEFAULT_LIMITS.max_detached_manifest + 1)
        return store.open_archive(name), detached, target
    path = Path(target)
    if not path.is_file():
        raise InvalidRequest(f"{target}: no such archive file (or ticket key)")
    if manifest is not None and not manifest.is_file():
        raise InvalidRequest(f"{manifest}: no such manifest file")
    sidecar = manifest or path.with_name(path.name + ".manifest")
    data = None
    if sidecar.is_file():  # read no further than the verifier's cap, and one byte
        with sidecar.open("rb") as f:
            data = f.read(DEFAULT_LIMITS.max_detached_manifest + 1)
    return path.open("rb"), data, str(path)


def is_ticket_key(target: str) -> bool:
    """TARGET names a ticket when it is written as a key and no file of that
    name is here: an existing path is always the file (./CHG-1 too)."""
    return bool(TICKET_KEY.fullmatch(target)) and not Path(target).exists()


def verify_target(
    services: Services,
    target: str,
    *,
    manifest: Path | None = None,
    store_uri: str | None = None,
    public_key: str | None = None,
    trust: Path | None = None,
    actor: str | None = None,
    progress: PhaseProgress = _no_progress,
    notify: Notify = _silent,
) -> dict[str, Any]:
    """Verifies a ticket KEY's latest sealed archive (and records the result,
    as `actor`), or a .tar.zst FILE / s3:// URI offline. Every hash is
    recomputed and every failure listed; `ok` is True when all hold."""
    findings: list[str]
    if is_ticket_key(target):
        app = services.app
        ticket = app.get_ticket(target)
        if not ticket.archives:
            raise Refused(f"{target}: no archive of this session has been sealed")
        latest = ticket.archives[-1]
        store, name = services.store_and_name(latest["location"], store_uri)
        checked = verify_stored(store, name, expected_sha256=latest["archive_sha256"],
                                progress=phase(progress, "verifying"))
        findings = list(checked.findings) + retention_findings(checked.info)
        findings += provenance_findings(checked.report)
        app.record_verification(
            target,
            location=latest["location"],
            archive_sha256=latest["archive_sha256"],
            ok=not findings,
            failures=findings,
            actor=actor or services.settings.actor,
            role=None,
        )
        report, label = checked.report, latest["location"]
    else:
        stream, detached, label = _open_target(services, target, manifest)
        try:
            report = verify_archive(stream, detached_manifest=detached,
                                    progress=phase(progress, "verifying"))
        finally:
            stream.close()
        findings = [str(f) for f in report.findings]
        findings += provenance_findings(report)
        if detached is None:
            notify(
                f"opsledger: warning: no detached manifest for {label}; "
                "checked the bag's own manifests only"
            )
    # Provenance needs a trust anchor from outside the archive: the log's key.
    # Online, the desk's own key stands in when none is given.
    trusted = read_trust(public_key, trust)
    anchors = list(trusted.logs)
    if not anchors and TICKET_KEY.fullmatch(target):
        anchors = own_verifiers(services, None, None, notify)
    integrity = list(findings)
    if anchors and not report.limited:
        findings += archive_proof_findings(report.tag_files, anchors)
    if not report.limited:
        findings += quorum_findings(report.tag_files, trusted)  # witnesses, from the trust file
    provenance = ("not-checked" if not anchors or report.limited
                  else "verified" if findings == integrity and not _provenance_problems(findings)
                  else "failed")
    return {
        "target": label,
        "ok": not findings,
        "provenance": provenance,
        "archive_sha256": report.archive_sha256,
        "files": len(report.files),  # every file of the bag: payload and tag files
        "payload_files": sum(1 for path in report.files if path.startswith("data/")),
        "findings": findings,
        "bag_info": [list(p) for p in report.bag_info],
    }


def _provenance_problems(findings: list[str]) -> bool:
    return any(f.startswith(("identity:", "binding:", "authority:")) for f in findings)


def list_archives(services: Services, store_uri: str | None = None) -> list[dict[str, Any]]:
    """The archives in the store; one without its manifest is incomplete (never sealed).
    The checkpoints each seal publishes beside its archive are no archives."""
    return [
        {
            "name": i.name,
            "location": i.location,
            "complete": i.complete,
            "size": i.size,
            "retention_mode": i.retention_mode,
            "retain_until": iso(i.retain_until),
            "legal_hold": i.legal_hold,
        }
        for i in services.archive_store(store_uri).list()
        if not PUBLISHED.fullmatch(i.name)
    ]


def verify_listed_archive(services: Services, name: str,
                          store_uri: str | None = None) -> dict[str, Any]:
    """Verifies the archive `name` of the store offline (nothing is recorded):
    only a name the store lists is opened, never a path given from outside."""
    from urllib.parse import unquote, urlparse

    listed = {a["name"]: a for a in list_archives(services, store_uri)}
    found = listed.get(name)
    if found is None:
        from opsledger.domain.errors import NotFound

        raise NotFound(name, "no such archive in the store")
    location = found["location"]
    if location.startswith("file://"):
        location = unquote(urlparse(location).path)
    return verify_target(services, location)
