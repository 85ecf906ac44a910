"""Sealing a session (runbook section 6): check the folder against the
checklist and the events, bag it into the store with the ticket's history and
the ledger's proofs, record the seal, then re-read and record the verification.

The archiver does the bagging and the reading back; this module decides what
goes in and what is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.archiver.builder.seal import Sealed, SealRequest, seal, seal_redacting, verify_stored
from opsledger.archiver.secrets.redact import Redaction
from opsledger.archiver.stores.port import ArchiveStore
from opsledger.domain.archival import checklist, problems, recorded_logs
from opsledger.domain.persistence import canonical_json
from opsledger.domain.runbook import Role
from opsledger.services.archive_check import (
    PhaseProgress,
    _no_progress,
    iso,
    phase,
    provenance_findings,
    retention_findings,
)
from opsledger.services.archive_history import events_jsonl, roster_jsonl
from opsledger.services.errors import InvalidRequest, Refused
from opsledger.services.incidents import write_report
from opsledger.services.ledger_archive import ledger_tag_files
from opsledger.services.redaction import log_digests, record_redactions, redaction_document
from opsledger.services.scripts import reap_abandoned
from opsledger.services.session_report import REPORT, report_html
from opsledger.services.sessions import default_session_dir
from opsledger.services.views import fresh_reader

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def _session_files(session_dir: Path) -> list[str]:
    if not session_dir.is_dir():
        raise InvalidRequest(f"{session_dir}: no such session folder")
    return sorted(
        p.relative_to(session_dir).as_posix()
        for p in session_dir.rglob("*")
        if p.is_file() or p.is_symlink()
    )


def seal_session(
    services: Services,
    key: str,
    *,
    session_dir: Path | None,
    store_uri: str | None,
    allow_incomplete: bool,
    actor: str,
    role: Role | None,
    redact: bool = False,
    progress: PhaseProgress = _no_progress,
    notify: Notify = _silent,
) -> dict[str, Any]:
    """Checks the folder against the checklist and for secrets, seals, records
    the seal, then re-reads the stored archive and records the verification."""
    app = services.app
    ticket = app.get_ticket(key)
    if ticket.closed:
        raise Refused(f"{key}: the ticket is closed; its archive is sealed")
    if reap_abandoned(services, key, actor=actor, role=role, session_dir=session_dir,
                      notify=notify):
        ticket = app.get_ticket(key)
    if ticket.archives:
        return _resume(
            services,
            key,
            ticket.archives[-1],
            store_uri=store_uri,
            actor=actor,
            role=role,
            progress=progress,
            notify=notify,
        )
    session_dir = session_dir or default_session_dir(ticket.session_date, key)
    files = _session_files(session_dir)
    if ticket.breaches and "sla_incidents.md" not in files:
        path, _, _ = write_report(services, key, str(session_dir / "sla_incidents.md"))
        notify(f"opsledger: wrote {path} from the recorded breaches")
        files = _session_files(session_dir)
    digests = log_digests(services, ticket, session_dir, files)
    items = checklist(ticket, files, digests)
    gaps = problems(items)
    if gaps and not allow_incomplete:
        raise Refused(
            f"{key}: archive refused, {len(gaps)} item(s) missing, altered or unfinished: "
            + "; ".join(g.line() for g in gaps)
        )
    store = services.archive_store(store_uri)

    def request_for(ticket, redactions: list[Redaction]) -> SealRequest:
        return _seal_request(services, key, ticket, checklist(ticket, files, digests), gaps, files,
                             redactions=redactions, source_dir=session_dir, notify=notify,
                             actor=actor, role=role, store=store)

    def redacted(redactions: list[Redaction]) -> SealRequest:
        """The alteration goes on the record before the redacted copies are sealed,
        so the archive's events and checklist tell of it."""
        record_redactions(services, key, redactions, session_dir=session_dir, actor=actor,
                          role=role, notify=notify)
        return request_for(app.get_ticket(key), redactions)

    # The payload is scanned for secrets as the bag is built: a secret refuses
    # the seal (file:line:kind), or with --redact seals redacted copies.
    def sealing(done: int, total: int | None = None) -> None:
        progress("sealing", done, total)

    if redact:
        sealed, redactions = seal_redacting(store, request_for(ticket, []), redacted,
                                            progress=sealing)
    else:
        sealed, redactions = seal(store, request_for(ticket, []), progress=sealing), []
    if sealed.secret_scan is not None:
        for skipped in sealed.secret_scan.skipped:
            notify(f"opsledger: warning: {skipped.path} was not scanned for secrets: "
                   f"{skipped.skipped}")
    return _record_and_verify(services, key, store, sealed, gaps, redactions, actor=actor,
                              role=role, progress=progress)


def _seal_request(
    services: Services,
    key: str,
    ticket,
    items: list,
    gaps: list,
    files: list[str],
    *,
    redactions: list[Redaction],
    source_dir: Path,
    notify: Notify,
    actor: str | None,
    role: Role | None,
    store: ArchiveStore,
) -> SealRequest:
    """What to seal; the tag files that record the ledger's proofs are only
    computed once the payload has passed the secret scan."""
    # a redacted log is archived as its redacted copy, whose hash the ticket now holds
    swapped = {r.path: r.redacted_sha256 for r in redactions}
    altered = {g.item for g in gaps if g.status == "altered"}
    recorded = {
        name: swapped.get(name, sha)
        for name, sha, _ in recorded_logs(ticket)
        if sha is not None and name in files and name not in altered
    }
    # a log recorded keyed was compared by its HMAC in the checklist already
    recorded = {n: d for n, d in recorded.items() if not d.startswith("hmac-sha256:")}
    bag_info = [
        ("Source-Organization", "opsledger"),
        ("Opsledger-Ticket", key),
        ("Opsledger-Strategy", ticket.strategy),
        ("Opsledger-Requested-Env", ticket.requested_env.value),
        ("Opsledger-Effective-Env", ticket.effective_env.value),
        ("Opsledger-Artifact-Digest", ticket.artifact_digest),
    ]

    def tags(
        payload: Sequence[tuple[str, int, str]],
    ) -> tuple[list[tuple[str, str]], dict[str, bytes]]:
        # Every payload file, bound to a signed event inside the archive itself.
        services.app.declare_payload(
            key, files=[{"path": p, "size": n, "sha256": s} for p, n, s in payload],
            actor=actor, role=role,
        )
        events, count, last_position = events_jsonl(services, key)
        roster = roster_jsonl(services)
        proof_files, proof_info = ledger_tag_files(services, key, events + roster, notify=notify,
                                                   publish_in=store)
        document = fresh_reader(services, ["tickets"]).ticket(key)
        tag_files: dict[str, bytes] = {
            "opsledger/events.jsonl": events,
            "opsledger/ticket.json": canonical_json(document) + b"\n",
            # the same record rendered for a person; checked by the tag manifest like the rest
            REPORT: report_html(services, key, document=document, session_dir=source_dir,
                                last_position=last_position),
            "opsledger/checklist.json": canonical_json(
                [
                    {
                        "item": i.item,
                        "reason": i.reason,
                        "status": i.status,
                        "files": list(i.matches),
                        "detail": i.detail,
                    }
                    for i in items
                ]
            )
            + b"\n",
        }
        tag_files.update(proof_files)
        if roster:
            tag_files["opsledger/roster.jsonl"] = roster
        info = [
            ("Opsledger-Event-Count", str(count)),
            ("Opsledger-Last-Position", str(last_position)),
            *(("Opsledger-Incomplete", g.line()) for g in gaps),
            *proof_info,
        ]
        return info, tag_files

    return SealRequest(
        ticket_key=key,
        session_date=str(ticket.session_date),
        source_dir=source_dir,
        bag_info=bag_info,
        recorded_digests=recorded,
        deferred_tags=tags,
    )


def _record_and_verify(
    services: Services,
    key: str,
    store: ArchiveStore,
    sealed: Sealed,
    gaps: list,
    redactions: list[Redaction],
    *,
    actor: str,
    role: Role | None,
    progress: PhaseProgress,
) -> dict[str, Any]:
    """Records the seal, re-reads the stored archive, records the verification."""
    app = services.app
    app.record_seal(
        key,
        location=sealed.location,
        archive_sha256=sealed.archive_sha256,
        archive_bytes=sealed.archive_size,
        manifest_sha256=sealed.manifest_sha256,
        location_hash=sealed.location_hash,
        file_count=sealed.file_count,
        missing=[g.line() for g in gaps],
        actor=actor,
        role=role,
        details={
            "name": sealed.name,
            "payload_bytes": sealed.payload_bytes,
            "retention_mode": sealed.put.retention_mode,
            "retain_until": iso(sealed.put.retain_until),
            "legal_hold": sealed.put.legal_hold,
            "notes": list(sealed.put.notes),
        },
    )
    checked = verify_stored(store, sealed.name, expected_sha256=sealed.archive_sha256,
                            progress=phase(progress, "verifying"))
    findings = (list(checked.findings) + retention_findings(checked.info)
                + provenance_findings(checked.report))
    app.record_verification(
        key,
        location=sealed.location,
        archive_sha256=sealed.archive_sha256,
        ok=not findings,
        failures=findings,
        actor=actor,
        role=role,
    )
    document = {
        "ticket": key,
        "name": sealed.name,
        "location": sealed.location,
        "archive_sha256": sealed.archive_sha256,
        "archive_bytes": sealed.archive_size,
        "manifest_sha256": sealed.manifest_sha256,
        "location_hash": sealed.location_hash,
        "files": sealed.file_count,  # payload files: the session's, under data/
        "payload_files": sealed.file_count,
        "reused": sealed.reused,
        "incomplete": [g.line() for g in gaps],
        "redacted": [
            redaction_document(**{k: v for k, v in r.items() if k != "findings"},
                               findings=r["findings"])
            for r in services.app.get_ticket(key).redactions
            if r["redacted_sha256"] in {x.redacted_sha256 for x in redactions}
        ],
        "verified": not findings,
        "findings": findings,
        "retention_mode": checked.info.retention_mode,
        "retain_until": iso(checked.info.retain_until),
    }
    return document


def _resume(
    services: Services,
    key: str,
    latest: dict[str, Any],
    *,
    store_uri: str | None,
    actor: str,
    role: Role | None,
    progress: PhaseProgress,
    notify: Notify,
) -> dict[str, Any]:
    """A seal is already on the record: a build interrupted after the seal
    was recorded finishes by verifying it; a verified seal is reported as is.
    Rebuilding would only fail, since the store never replaces an archive."""
    if latest["verified"] is False:
        raise Refused(
            f"{key}: the sealed archive {latest['location']} failed verification; "
            "investigate it with 'opsledger archive verify'"
        )
    store, name = services.store_and_name(latest["location"], store_uri)
    checked = verify_stored(store, name, expected_sha256=latest["archive_sha256"],
                            progress=phase(progress, "verifying"))
    findings = (list(checked.findings) + retention_findings(checked.info)
                + provenance_findings(checked.report))
    if latest["verified"] is None or findings:
        services.app.record_verification(
            key,
            location=latest["location"],
            archive_sha256=latest["archive_sha256"],
            ok=not findings,
            failures=findings,
            actor=actor,
            role=role,
        )
    notify(f"opsledger: {key} was already sealed; verified the stored archive again")
    sealed = next(
        e for e in reversed(services.app.ticket_events(key)) if type(e).__name__ == "ArchiveSealed"
    )
    return {
        "ticket": key,
        "name": name,
        "location": sealed.location,
        "archive_sha256": sealed.archive_sha256,
        "archive_bytes": sealed.archive_bytes,
        "manifest_sha256": sealed.manifest_sha256,
        "location_hash": sealed.location_hash,
        "files": sealed.file_count,  # payload files: the session's, under data/
        "payload_files": sealed.file_count,
        "reused": True,
        "incomplete": list(sealed.missing),
        "redacted": [
            redaction_document(**{k: v for k, v in r.items() if k != "findings"},
                               findings=r["findings"])
            for r in services.app.get_ticket(key).redactions
        ],
        "verified": not findings,
        "findings": findings,
        "retention_mode": checked.info.retention_mode,
        "retain_until": iso(checked.info.retain_until),
    }
