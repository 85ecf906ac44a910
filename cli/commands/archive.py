"""`opsledger archive build`: the post-session archive (runbook section 6).

Checking archives (`archive verify|proof|list`) is cli/commands/archive_check.py;
the use case is `opsledger.services.archive_seal`."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.errors import REFUSED
from opsledger.cli.options import (
    actor_of,
    actor_option,
    json_option,
    role_option,
    store_option,
)
from opsledger.cli.output import emit, note
from opsledger.cli.progress import PhasedProgress
from opsledger.domain.runbook import Role
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
                f"{document['payload_files']} payload files)",
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


def register(cli: click.Group) -> None:
    cli.add_command(archive_group)
