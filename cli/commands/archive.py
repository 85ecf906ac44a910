"""`opsledger archive build|verify|list`: the post-session archive (runbook section 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from opsledger.archiver.builder.seal import Sealed, SealRequest, seal, seal_redacting, verify_stored
from opsledger.archiver.secrets.redact import Redaction
from opsledger.archiver.stores.port import ArchiveStore
from opsledger.archiver.verify.authority import authority_findings
from opsledger.archiver.verify.verifier import verify_archive
from opsledger.cli.commands.incidents import write_report
from opsledger.cli.commands.ledger import (
    archive_proof_findings,
    ledger_tag_files,
    public_key_option,
)
from opsledger.cli.commands.projections import fresh_reader
from opsledger.cli.commands.run import default_session_dir
from opsledger.cli.errors import INCOMPLETE, INVALID, REFUSED, CliError
from opsledger.cli.options import actor_of, actor_option, file_digest, json_option, role_option
from opsledger.cli.output import emit, note, table
from opsledger.cli.progress import ProgressBar
from opsledger.domain.archival import checklist, problems, recorded_logs
from opsledger.domain.persistence import canonical_json
from opsledger.domain.roster import roster_id
from opsledger.domain.runbook import Role
from opsledger.domain.ticket import ticket_id

store_option = click.option(
    "--store",
    "store_uri",
    metavar="URI",
    help="Where archives go: a folder or s3://bucket/prefix [env OPSLEDGER_ARCHIVE_STORE; "
    "default $OPSLEDGER_HOME/archives].",
)


@click.group("archive")
def archive_group() -> None:
    """Seal a session's artefacts into a verified BagIt archive, and check archives."""


def _session_files(session_dir: Path) -> list[str]:
    if not session_dir.is_dir():
        raise CliError(f"{session_dir}: no such session folder", INVALID)
    return sorted(
        p.relative_to(session_dir).as_posix()
        for p in session_dir.rglob("*")
        if p.is_file() or p.is_symlink()
    )


def events_jsonl(obj, key: str) -> tuple[bytes, int, int]:
    """The ticket's history, one canonical JSON line per event with its global
    position; the state is the exact stored text, so leaf hashes can be
    recomputed from the archive alone. Returns (bytes, count, last position).

    Positions come from the timeline view and the bytes from the ticket's own
    stored events: two indexed reads, however long the whole log is."""
    positions = {
        row["version"]: row["position"]
        for row in fresh_reader(obj, ["timeline"], json_output=True).timeline(key)
        if row["own"]
    }
    lines = []
    for stored in obj.app.recorder.select_events(ticket_id(key)):
        position = positions.get(stored.originator_version)
        if position is None:  # the view was caught up just now: this cannot lag
            raise CliError(f"{key}: event v{stored.originator_version} is not in the timeline "
                           "view; run 'opsledger projections rebuild timeline'", INCOMPLETE)
        lines.append(stored_line(stored, position=position))
    return b"".join(lines), len(lines), max(positions.values(), default=0)


def stored_line(stored, **extra: Any) -> bytes:
    """One stored event as a canonical JSON line: its exact stored text, so the
    archive alone can re-hash it (proofs) and decode it (authority replay)."""
    return canonical_json(
        {
            **extra,
            "originator_id": str(stored.originator_id),
            "originator_version": stored.originator_version,
            "topic": stored.topic,
            "state": stored.state.decode("utf-8"),
        }
    ) + b"\n"


def roster_jsonl(obj) -> bytes:
    """The roster's history as stored at the seal, so the authority of every
    archived event can be replayed offline (archiver.verify.authority)."""
    return b"".join(stored_line(s) for s in obj.app.recorder.select_events(roster_id()))


@archive_group.command("build")
@click.argument("key")
@click.option(
    "--session-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The session folder [default reports/live/<session date>/].",
)
@store_option
@click.option(
    "--allow-incomplete",
    is_flag=True,
    help="Seal even with items missing or altered; the archive records what.",
)
@click.option(
    "--redact",
    is_flag=True,
    help="Archive copies of files holding secrets with each secret replaced by "
    "[REDACTED:<kind>]; the ticket records both hashes. The session folder is not changed. "
    "Without it, a secret refuses the seal.",
)
@actor_option
@role_option(required=False)
@json_option
@click.pass_obj
def build(
    obj,
    key: str,
    session_dir: Path | None,
    store_uri: str | None,
    allow_incomplete: bool,
    redact: bool,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Seal ticket KEY's session folder: check it against the runbook and the
    events, bag it into the store, then verify it by re-reading it.

    Every payload file (compressed logs included) is scanned for credentials
    as it is read into the bag: a secret refuses the seal (file:line:kind,
    never the secret) and nothing is stored, unless --redact is given.

    Exits 0 when sealed and verified, 1 when refused (items missing or altered,
    secrets found) or when verification failed.
    """
    document = seal_session(
        obj,
        key,
        session_dir=session_dir,
        store_uri=store_uri,
        allow_incomplete=allow_incomplete,
        redact=redact,
        actor=actor_of(obj, actor_override),
        role=role,
        json_output=json_output,
    )
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"{key}: sealed {document['location']}",
                f"  sha256 {document['archive_sha256']}  ({document['archive_bytes']:,} bytes, "
                f"{document['files']} files)",
                f"  manifest sha256 {document['manifest_sha256']}",
                f"  location hash {document['location_hash']}",
                *(
                    f"  redacted: {r['file']} ({', '.join(r['kinds'])}; original sha256 "
                    f"{r['original_sha256']})"
                    for r in document["redacted"]
                ),
                *(f"  incomplete: {line}" for line in document["incomplete"]),
                f"  verified: {'yes' if document['verified'] else 'NO'}",
                *(f"  - {f}" for f in document["findings"]),
            ]
        ),
    )
    if not document["verified"]:
        raise click.exceptions.Exit(REFUSED)


def seal_session(
    obj,
    key: str,
    *,
    session_dir: Path | None,
    store_uri: str | None,
    allow_incomplete: bool,
    actor: str,
    role: Role | None,
    json_output: bool,
    redact: bool = False,
) -> dict[str, Any]:
    """Checks the folder against the checklist and for secrets, seals, records
    the seal, then re-reads the stored archive and records the verification."""
    app = obj.app
    ticket = app.get_ticket(key)
    if ticket.closed:
        raise CliError(f"{key}: the ticket is closed; its archive is sealed", REFUSED)
    if ticket.archives:
        return _resume(
            obj,
            key,
            ticket.archives[-1],
            store_uri=store_uri,
            actor=actor,
            role=role,
            json_output=json_output,
        )
    session_dir = session_dir or default_session_dir(ticket.session_date)
    files = _session_files(session_dir)
    if ticket.breaches and "sla_incidents.md" not in files:
        path, _, _ = write_report(
            obj, key, str(session_dir / "sla_incidents.md"), json_output=json_output
        )
        note(f"opsledger: wrote {path} from the recorded breaches")
        files = _session_files(session_dir)
    digests = {
        name: file_digest(session_dir / name)[0]
        for name, _, _ in recorded_logs(ticket)
        if name in files
    }
    items = checklist(ticket, files, digests)
    gaps = problems(items)
    if gaps and not allow_incomplete:
        raise CliError(
            f"{key}: archive refused, {len(gaps)} item(s) missing or altered: "
            + "; ".join(g.line() for g in gaps),
            REFUSED,
        )
    store = obj.archive_store(store_uri)

    def request_for(ticket, redactions: list[Redaction]) -> SealRequest:
        return _seal_request(obj, key, ticket, checklist(ticket, files, digests), gaps, files,
                             redactions=redactions, source_dir=session_dir,
                             json_output=json_output)

    def redacted(redactions: list[Redaction]) -> SealRequest:
        """The alteration goes on the record before the redacted copies are sealed,
        so the archive's events and checklist tell of it."""
        for r in redactions:
            app.record_redaction(
                key,
                file=r.path,
                original_sha256=r.original_sha256,
                redacted_sha256=r.redacted_sha256,
                findings=[{"kind": f.kind, "line": f.line} for f in r.findings],
                actor=actor,
                role=role,
            )
        return request_for(app.get_ticket(key), redactions)

    # The payload is scanned for secrets as the bag is built: a secret refuses
    # the seal (file:line:kind), or with --redact seals redacted copies.
    with ProgressBar("sealing", enabled=not json_output) as bar:
        if redact:
            sealed, redactions = seal_redacting(store, request_for(ticket, []), redacted,
                                                progress=bar.update)
        else:
            sealed, redactions = seal(store, request_for(ticket, []), progress=bar.update), []
    if not json_output and sealed.secret_scan is not None:
        for skipped in sealed.secret_scan.skipped:
            note(f"opsledger: warning: {skipped.path} was not scanned for secrets: "
                 f"{skipped.skipped}")
    return _record_and_verify(obj, key, store, sealed, gaps, redactions, actor=actor, role=role,
                              json_output=json_output)


def _seal_request(
    obj,
    key: str,
    ticket,
    items: list,
    gaps: list,
    files: list[str],
    *,
    redactions: list[Redaction],
    source_dir: Path,
    json_output: bool,
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
    bag_info = [
        ("Source-Organization", "opsledger"),
        ("Opsledger-Ticket", key),
        ("Opsledger-Strategy", ticket.strategy),
        ("Opsledger-Requested-Env", ticket.requested_env.value),
        ("Opsledger-Effective-Env", ticket.effective_env.value),
        ("Opsledger-Artifact-Digest", ticket.artifact_digest),
    ]

    def tags() -> tuple[list[tuple[str, str]], dict[str, bytes]]:
        events, count, last_position = events_jsonl(obj, key)
        proof_files, proof_info = ledger_tag_files(obj, key, events)
        tag_files: dict[str, bytes] = {
            "opsledger/events.jsonl": events,
            "opsledger/ticket.json": canonical_json(
                fresh_reader(obj, ["tickets"], json_output=json_output).ticket(key)
            )
            + b"\n",
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
        roster = roster_jsonl(obj)
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
    obj,
    key: str,
    store: ArchiveStore,
    sealed: Sealed,
    gaps: list,
    redactions: list[Redaction],
    *,
    actor: str,
    role: Role | None,
    json_output: bool,
) -> dict[str, Any]:
    """Records the seal, re-reads the stored archive, records the verification."""
    app = obj.app
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
            "retain_until": _iso(sealed.put.retain_until),
            "legal_hold": sealed.put.legal_hold,
            "notes": list(sealed.put.notes),
        },
    )
    with ProgressBar("verifying", enabled=not json_output) as bar:
        checked = verify_stored(
            store, sealed.name, expected_sha256=sealed.archive_sha256, progress=bar.update
        )
    findings = list(checked.findings) + _retention_findings(checked.info)
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
        "files": sealed.file_count,
        "reused": sealed.reused,
        "incomplete": [g.line() for g in gaps],
        "redacted": [
            {
                "file": r.path,
                "original_sha256": r.original_sha256,
                "redacted_sha256": r.redacted_sha256,
                "kinds": sorted({f.kind for f in r.findings}),
                "lines": [f.line for f in r.findings],
            }
            for r in redactions
        ],
        "verified": not findings,
        "findings": findings,
        "retention_mode": checked.info.retention_mode,
        "retain_until": _iso(checked.info.retain_until),
    }
    return document


def _resume(
    obj,
    key: str,
    latest: dict[str, Any],
    *,
    store_uri: str | None,
    actor: str,
    role: Role | None,
    json_output: bool,
) -> dict[str, Any]:
    """A seal is already on the record: a build interrupted after the seal
    was recorded finishes by verifying it; a verified seal is reported as is.
    Rebuilding would only fail, since the store never replaces an archive."""
    if latest["verified"] is False:
        raise CliError(
            f"{key}: the sealed archive {latest['location']} failed verification; "
            "investigate it with 'opsledger archive verify'",
            REFUSED,
        )
    store, name = obj.store_and_name(latest["location"], store_uri)
    with ProgressBar("verifying", enabled=not json_output) as bar:
        checked = verify_stored(
            store, name, expected_sha256=latest["archive_sha256"], progress=bar.update
        )
    findings = list(checked.findings) + _retention_findings(checked.info)
    if latest["verified"] is None or findings:
        obj.app.record_verification(
            key,
            location=latest["location"],
            archive_sha256=latest["archive_sha256"],
            ok=not findings,
            failures=findings,
            actor=actor,
            role=role,
        )
    if not json_output:
        note(f"opsledger: {key} was already sealed; verified the stored archive again")
    sealed = next(
        e for e in reversed(obj.app.ticket_events(key)) if type(e).__name__ == "ArchiveSealed"
    )
    return {
        "ticket": key,
        "name": name,
        "location": sealed.location,
        "archive_sha256": sealed.archive_sha256,
        "archive_bytes": sealed.archive_bytes,
        "manifest_sha256": sealed.manifest_sha256,
        "location_hash": sealed.location_hash,
        "files": sealed.file_count,
        "reused": True,
        "incomplete": list(sealed.missing),
        "redacted": [
            {
                "file": r["file"],
                "original_sha256": r["original_sha256"],
                "redacted_sha256": r["redacted_sha256"],
                "kinds": sorted({f["kind"] for f in r["findings"]}),
                "lines": [f["line"] for f in r["findings"]],
            }
            for r in obj.app.get_ticket(key).redactions
        ],
        "verified": not findings,
        "findings": findings,
        "retention_mode": checked.info.retention_mode,
        "retain_until": _iso(checked.info.retain_until),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _retention_findings(info) -> list[str]:
    """Object Lock policy: on a store that keeps retention, COMPLIANCE mode
    until at least the configured period from now."""
    if info.retention_mode is None:
        return []
    found = []
    if info.retention_mode != "COMPLIANCE":
        found.append(f"{info.name}: retention mode {info.retention_mode}, policy is COMPLIANCE")
    if info.retain_until is not None and info.retain_until <= datetime.now(UTC):
        found.append(f"{info.name}: retention expired on {_iso(info.retain_until)}")
    return found


def _open_target(obj, target: str, manifest: Path | None) -> tuple[Any, bytes | None, str]:
    """(stream, detached manifest bytes, label) for a file path or s3:// URI."""
    if target.startswith("s3://"):
        store, name = obj.store_and_name(target)
        return store.open_archive(name), store.get_manifest(name), target
    path = Path(target)
    if not path.is_file():
        raise CliError(f"{target}: no such archive file (or ticket key)", INVALID)
    if manifest is not None and not manifest.is_file():
        raise CliError(f"{manifest}: no such manifest file", INVALID)
    sidecar = manifest or path.with_name(path.name + ".manifest")
    data = sidecar.read_bytes() if sidecar.is_file() else None
    return path.open("rb"), data, str(path)


@archive_group.command("verify")
@click.argument("target")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The detached manifest [default: TARGET.manifest beside a file].",
)
@store_option
@public_key_option
@actor_option
@json_option
@click.pass_obj
def verify(
    obj,
    target: str,
    manifest: Path | None,
    store_uri: str | None,
    public_key: str | None,
    actor_override: str | None,
    json_output: bool,
) -> None:
    """Verify an archive: a ticket KEY (its latest sealed archive, recorded),
    a downloaded .tar.zst FILE (offline, no database needed), or s3://...

    Every hash is recomputed and every failure listed. Exits 0 when all hold.
    """
    from opsledger.domain.ticket import TICKET_KEY

    findings: list[str]
    if TICKET_KEY.match(target):
        app = obj.app
        ticket = app.get_ticket(target)
        if not ticket.archives:
            raise CliError(f"{target}: no archive of this session has been sealed", REFUSED)
        latest = ticket.archives[-1]
        store, name = obj.store_and_name(latest["location"], store_uri)
        with ProgressBar("verifying", enabled=not json_output) as bar:
            checked = verify_stored(
                store, name, expected_sha256=latest["archive_sha256"], progress=bar.update
            )
        findings = list(checked.findings) + _retention_findings(checked.info)
        findings += authority_findings(checked.report.tag_files)
        app.record_verification(
            target,
            location=latest["location"],
            archive_sha256=latest["archive_sha256"],
            ok=not findings,
            failures=findings,
            actor=actor_of(obj, actor_override),
            role=None,
        )
        report, label = checked.report, latest["location"]
    else:
        stream, detached, label = _open_target(obj, target, manifest)
        try:
            with ProgressBar("verifying", enabled=not json_output) as bar:
                report = verify_archive(stream, detached_manifest=detached, progress=bar.update)
        finally:
            stream.close()
        findings = [str(f) for f in report.findings]
        findings += authority_findings(report.tag_files)
        if detached is None:
            note(
                f"opsledger: warning: no detached manifest for {label}; "
                "checked the bag's own manifests only"
            )
    if public_key:  # the ledger's proofs, checked offline with only the public key
        findings += archive_proof_findings(report.tag_files, public_key)
    document = {
        "target": label,
        "ok": not findings,
        "archive_sha256": report.archive_sha256,
        "files": len(report.files),
        "findings": findings,
        "bag_info": [list(p) for p in report.bag_info],
    }
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"{label}: {'OK' if not findings else 'FAILED'} ({len(report.files)} files, "
                f"sha256 {report.archive_sha256})"
            ]
            + [f"  - {f}" for f in findings]
        ),
    )
    if findings:
        raise click.exceptions.Exit(REFUSED)


@archive_group.command("list")
@store_option
@json_option
@click.pass_obj
def list_archives(obj, store_uri: str | None, json_output: bool) -> None:
    """List the archives in the store; an archive without its manifest is
    shown as incomplete (never sealed)."""
    store: ArchiveStore = obj.archive_store(store_uri)
    rows = [
        {
            "name": i.name,
            "location": i.location,
            "complete": i.complete,
            "size": i.size,
            "retention_mode": i.retention_mode,
            "retain_until": _iso(i.retain_until),
            "legal_hold": i.legal_hold,
        }
        for i in store.list()
    ]
    emit(
        rows,
        json_output=json_output,
        human=lambda: table(
            [
                (
                    r["name"],
                    "sealed" if r["complete"] else "INCOMPLETE",
                    r["size"],
                    r["retention_mode"],
                    r["retain_until"],
                )
                for r in rows
            ],
            ["NAME", "STATE", "BYTES", "RETENTION", "UNTIL"],
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(archive_group)
