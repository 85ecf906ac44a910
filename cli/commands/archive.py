"""`opsledger archive build|verify|list`: the post-session archive (runbook section 6).

The use cases are `opsledger.services.archive_seal` and `.archive_check`."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.errors import INCOMPLETE, REFUSED
from opsledger.cli.options import (
    actor_of,
    actor_option,
    json_option,
    public_key_option,
    role_option,
    store_option,
)
from opsledger.cli.output import emit, note, table
from opsledger.cli.progress import PhasedProgress
from opsledger.domain.runbook import Role
from opsledger.domain.ticket import TICKET_KEY
from opsledger.services.archive_check import list_archives, verify_target
from opsledger.services.archive_proof import export_tlog_proof
from opsledger.services.archive_seal import seal_session


@click.group("archive")
def archive_group() -> None:
    """Seal a session's artefacts into a verified BagIt archive, and check archives."""


@archive_group.command("build")
@click.argument("key")
@click.option(
    "--session-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The session folder [default reports/live/<session date>/<ticket>/].",
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
    "[REDACTED:<kind>]; the ticket records the copy's sha256 and an HMAC of the original "
    "under the desk's redaction key (never archived). The session folder is not changed. "
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
    with PhasedProgress(enabled=not json_output) as progress:
        document = seal_session(
            obj,
            key,
            session_dir=session_dir,
            store_uri=store_uri,
            allow_incomplete=allow_incomplete,
            redact=redact,
            actor=actor_of(obj, actor_override),
            role=role,
            progress=progress,
            notify=note,
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
                    f"  redacted: {r['file']} ({', '.join(r['kinds'])}; original "
                    + (f"committed to with the desk's key, {r['original_hmac']})"
                       if r.get("original_hmac") else f"sha256 {r['original_sha256']})")
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


@archive_group.command("verify")
@click.argument("target")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The detached manifest [default: TARGET.manifest beside a file].",
)
@store_option
@public_key_option
@click.option(
    "--trust",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A trust file: 'log KEY' per log key you trust, 'witness KEY' per witness key "
    "(type 0x04), 'quorum N' cosignatures by those witnesses required (# comments allowed).",
)
@click.option(
    "--integrity-only",
    is_flag=True,
    help="Check the bytes only, knowingly: without a log key, provenance cannot be checked.",
)
@actor_option
@json_option
@click.pass_obj
def verify(
    obj,
    target: str,
    manifest: Path | None,
    store_uri: str | None,
    public_key: str | None,
    trust: Path | None,
    integrity_only: bool,
    actor_override: str | None,
    json_output: bool,
) -> None:
    """Verify an archive: a ticket KEY (its latest sealed archive, recorded),
    a downloaded .tar.zst FILE (offline, no database needed), or s3://...

    Every hash is recomputed and every failure listed. Provenance (the log's
    signed checkpoint and proofs, every event's SSH signature against the
    roster the log proves, every payload file against the signed events) needs
    a log key from outside the archive: --public-key or --trust (for a ticket
    KEY, the desk's own key stands in). Exits 0 when all hold, 1 on any
    failure, 3 when provenance was not checked (unless --integrity-only).
    """
    with PhasedProgress(enabled=not json_output) as progress:
        document = verify_target(
            obj,
            target,
            manifest=manifest,
            store_uri=store_uri,
            public_key=public_key,
            trust=trust,
            actor=actor_of(obj, actor_override) if TICKET_KEY.match(target) else None,
            progress=progress,
            notify=note,
        )
    findings, label = document["findings"], document["target"]
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"{label}: {_verdict(document)} ({document['files']} files, "
                f"sha256 {document['archive_sha256']})"
            ]
            + [f"  - {f}" for f in findings]
        ),
    )
    if findings:
        raise click.exceptions.Exit(REFUSED)
    if document["provenance"] == "not-checked" and not integrity_only:
        note("opsledger: integrity only: provenance not checked (no log key); pass "
             "--public-key KEY or --trust FILE, or --integrity-only to accept that")
        raise click.exceptions.Exit(INCOMPLETE)


def _verdict(document: dict) -> str:
    if document["findings"]:
        return "FAILED"
    return "OK" if document["provenance"] == "verified" else "integrity OK, provenance NOT CHECKED"


@archive_group.command("proof")
@click.argument("target")
@click.option("--position", type=click.IntRange(min=1), required=True,
              help="The event's log position (as in the archive's events.jsonl).")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The detached manifest [default: TARGET.manifest beside a file].",
)
@json_option
@click.pass_obj
def proof(obj, target: str, position: int, manifest: Path | None, json_output: bool) -> None:
    """Print one archived event's proof in the C2SP tlog-proof format (a
    .tlog-proof file): the event as extra data, its leaf index and inclusion
    proof, and the archive's signed checkpoint with its witness cosignatures.
    'opsledger ledger verify-proof FILE --public-key KEY' checks it, offline."""
    document = export_tlog_proof(obj, target, position, manifest=manifest)
    emit(document, json_output=json_output, human=lambda: document["proof"].rstrip("\n"))


@archive_group.command("list")
@store_option
@json_option
@click.pass_obj
def list_command(obj, store_uri: str | None, json_output: bool) -> None:
    """List the archives in the store; an archive without its manifest is
    shown as incomplete (never sealed)."""
    rows = list_archives(obj, store_uri)
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
