"""`opsledger archive build|verify|list`: the post-session archive (runbook section 6).

The use cases are `opsledger.services.archive_seal` and `.archive_check`."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.errors import REFUSED
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
from opsledger.services.archive_check import is_ticket_key, list_archives, verify_target
from opsledger.services.archive_seal import seal_session


@click.group("archive")
def archive_group() -> None:
    """Seal a session's artefacts into a verified BagIt archive, and check archives."""


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
                f"{document['payload_files']} payload files)",
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

    A TARGET that exists as a file is the file, even when named like a key.

    Every hash is recomputed and every failure listed. Exits 0 when all hold.
    """
    with PhasedProgress(enabled=not json_output) as progress:
        document = verify_target(
            obj,
            target,
            manifest=manifest,
            store_uri=store_uri,
            public_key=public_key,
            actor=actor_of(obj, actor_override) if is_ticket_key(target) else None,
            progress=progress,
            notify=note,
        )
    findings, label = document["findings"], document["target"]
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"{label}: {'OK' if not findings else 'FAILED'} ({document['payload_files']} "
                f"payload files; {document['files']} in the bag with its tag files; "
                f"sha256 {document['archive_sha256']})"
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
