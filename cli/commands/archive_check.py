"""`opsledger archive verify|proof|list`: checking archives, offline or in the store.

Added to the `archive` group that cli/commands/archive.py defines; the use
cases are `opsledger.services.archive_check` and `.archive_proof`."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.errors import INCOMPLETE, REFUSED
from opsledger.cli.options import (
    actor_of,
    actor_option,
    json_option,
    public_key_option,
    store_option,
)
from opsledger.cli.output import emit, note, table
from opsledger.cli.progress import PhasedProgress
from opsledger.services.archive_check import is_ticket_key, list_archives, verify_target
from opsledger.services.archive_proof import export_tlog_proof


@click.command("verify")
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
    A TARGET that exists as a file is the file, even when named like a key.

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
                f"{label}: {_verdict(document)} ({document['payload_files']} payload files; "
                f"{document['files']} in the bag with its tag files; "
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


@click.command("proof")
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


@click.command("list")
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
    """Adds verify, proof and list to the `archive` group (build lives in archive.py)."""
    group = cli.commands.get("archive")
    if not isinstance(group, click.Group):
        raise RuntimeError("register cli.commands.archive before cli.commands.archive_check")
    for command in (verify, proof, list_command):
        group.add_command(command)
