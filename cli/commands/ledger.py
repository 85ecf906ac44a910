"""`opsledger ledger status|checkpoint|verify|proof|consistency|verify-proof`.

The ledger is the RFC 9162 Merkle tree over every stored event, kept by a
tracked consumer in the views' store; the use cases are in
`opsledger.services.ledger`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from opsledger.adapters.signing_keys import load_key
from opsledger.archiver.verify.proof_document import check_proof_document
from opsledger.archiver.verify.proof_format import CONSISTENCY_FORMAT, INCLUSION_FORMAT, ProofReport
from opsledger.cli.errors import INVALID, REFUSED, CliError
from opsledger.cli.options import json_option, key_file_option, public_key_option
from opsledger.cli.output import emit, is_interactive, note
from opsledger.projections import ProjectionError
from opsledger.projections.ledger_audit import audit
from opsledger.projections.ledger_log import Ledger, StoredCheckpoint
from opsledger.services.keys import key_path
from opsledger.services.ledger import (
    caught_up,
    event_document,
    hexes,
    ledger_errors,
    own_verifiers,
    parse_verifier,
    publish,
    published_notes,
    signer,
)


def _progress(json_output: bool):
    """The ledger's catch-up on a terminal: one line, redrawn; nothing under --json."""
    if not is_interactive() or json_output:
        return None

    def line(p: Any) -> None:
        sys.stderr.write(f"\r\033[Kledger: {p.position:,}/{p.head:,}")
        sys.stderr.flush()

    return line


def _caught_up(obj, json_output: bool) -> Ledger:
    progress = _progress(json_output)
    try:
        return caught_up(obj, progress)
    finally:
        if progress is not None:
            sys.stderr.write("\r\033[K")


# --- commands --------------------------------------------------------------------------------


@click.group("ledger")
def ledger_group() -> None:
    """Tamper evidence: the Merkle log of every event, signed checkpoints and proofs."""


@ledger_group.command("status")
@json_option
@click.pass_obj
def status(obj, json_output: bool) -> None:
    """Size and root of the tree as stored, how far behind the log it is, its checkpoints."""
    with ledger_errors():
        ledger: Ledger = obj.ledger
        state = ledger.status()
        head = ledger.head()
        checkpoints = ledger.checkpoints()
    document = {
        "tree_size": head.size,
        "root_hash": head.root_hash.hex(),
        "position": state.position,
        "head": state.head,
        "lag": state.lag,
        "checkpoints": [c.size for c in checkpoints],
    }
    emit(
        document,
        json_output=json_output,
        human=lambda: f"tree size {head.size}, root {head.root_hash.hex()}\n"
        f"position {state.position} of {state.head} (lag {state.lag}); "
        f"{len(checkpoints)} checkpoint(s)"
        + (f", latest of size {checkpoints[-1].size}" if checkpoints else ""),
    )


@ledger_group.command("checkpoint")
@click.option(
    "--publish",
    "destination",
    metavar="DEST",
    help="Also write it as checkpoint-<size>.txt to a folder or s3://bucket/prefix (create-only).",
)
@key_file_option
@json_option
@click.pass_obj
def checkpoint(obj, destination: str | None, key_file: Path | None, json_output: bool) -> None:
    """Catch the ledger up, sign a checkpoint of the whole tree and print it."""
    key = signer(obj, key_file)
    with ledger_errors():
        ledger = _caught_up(obj, json_output)
        signed = ledger.sign(key, "checkpoint")
    location = publish(obj, destination, signed) if destination else None
    emit(
        {
            "origin": key.name,
            "tree_size": signed.size,
            "root_hash": signed.root_hash.hex(),
            "checkpoint": signed.note,
            "published": location,
        },
        json_output=json_output,
        human=lambda: signed.note.rstrip("\n"),
    )
    if location and not json_output:
        note(f"opsledger: published {location}")


@ledger_group.command("verify")
@click.option(
    "--published",
    "destinations",
    metavar="DEST",
    multiple=True,
    help="Also check the checkpoints published there (a folder or s3://...); repeatable.",
)
@public_key_option
@key_file_option
@json_option
@click.pass_obj
def verify(
    obj,
    destinations: tuple[str, ...],
    public_key: str | None,
    key_file: Path | None,
    json_output: bool,
) -> None:
    """Recompute the tree from the log; check it against the stored leaves and
    every stored and published checkpoint.

    Lists each altered, deleted, inserted, reordered or truncated event with its
    position. Exits 0 when everything holds, 1 on any finding.
    """
    try:
        _caught_up(obj, json_output)
    except ProjectionError as e:
        note(f"opsledger: warning: the ledger could not catch up ({e}); checking what it holds")
    verifiers = own_verifiers(obj, public_key, key_file)
    if not verifiers:
        note("opsledger: warning: no public key; checkpoint signatures are not checked")
    published = []
    for destination in destinations:
        found = published_notes(obj, destination)
        if not found:
            note(f"opsledger: warning: no published checkpoint (checkpoint-<size>.txt) at {destination}")
        published += found
    with ledger_errors():
        report = audit(obj.ledger, published, verifiers)
    head = report.ledger
    document = {
        "ok": report.ok,
        "log_events": report.log_events,
        "log_root": report.log_root.hex(),
        "tree_size": head.size if head else None,
        "position": head.position if head else None,
        "checkpoints_checked": report.checkpoints,
        "published_checked": len(published),
        "signatures_checked": report.signatures_checked,
        "findings": [
            {"kind": f.kind, "position": f.position, "detail": f.detail} for f in report.findings
        ],
    }
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"ledger: {'OK' if report.ok else 'TAMPERED'} ({report.log_events} events, "
                f"{report.checkpoints} checkpoint(s) checked, root {report.log_root.hex()})"
            ]
            + [f"  - {f.line()}" for f in report.findings]
        ),
    )
    if not report.ok:
        raise click.exceptions.Exit(REFUSED)


@ledger_group.command("proof")
@click.option("--position", type=click.IntRange(min=1), required=True, help="The event's log position.")
@click.option(
    "--size",
    type=click.IntRange(min=1),
    help="Tree size to prove it in [default: the latest checkpoint covering it, else a new one].",
)
@key_file_option
@json_option
@click.pass_obj
def proof(obj, position: int, size: int | None, key_file: Path | None, json_output: bool) -> None:
    """Print the inclusion proof of the event at --position (the document
    'ledger verify-proof' checks, under --json)."""
    with ledger_errors():
        ledger = _caught_up(obj, json_output)
        index = ledger.leaf_index(position)
        signed = _covering_checkpoint(obj, ledger, index, size, key_file)
        size = signed.size if signed is not None else (size or ledger.head().size)
        entry = ledger.inclusion(index, size)
        root = ledger.root_at(size)
        event = ledger.event(position)
    document = {
        "format": INCLUSION_FORMAT,
        "event": event_document(event),
        "leaf_index": index,
        "leaf_hash": entry.leaf_hash.hex(),
        "tree_size": size,
        "root_hash": root.hex(),
        "path": hexes(entry.path),
        "checkpoint": signed.note if signed is not None else None,
    }
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"position {position}: leaf {index} of tree {size} ({event.topic})",
                f"leaf hash {entry.leaf_hash.hex()}",
                f"root      {root.hex()}",
                *(f"  {h.hex()}" for h in entry.path),
                f"checkpoint: {'of size ' + str(signed.size) if signed else 'none (unsigned root)'}",
            ]
        ),
    )


def _covering_checkpoint(
    obj, ledger: Ledger, index: int, size: int | None, key_file: Path | None
) -> StoredCheckpoint | None:
    """The checkpoint that vouches for the proof's root: the stored one of --size,
    else the latest stored one covering the leaf, else one signed now (if a key exists)."""
    if size is not None:
        return ledger.checkpoint_at(size)
    covering = [c for c in ledger.checkpoints() if c.size > index]
    if covering:
        return covering[-1]
    path = key_path(obj, key_file)
    return ledger.sign(load_key(path), "proof") if path.exists() else None


@ledger_group.command("consistency")
@click.option("--from", "first", type=click.IntRange(min=0), required=True, help="The older tree size.")
@click.option("--to", "second", type=click.IntRange(min=0), help="The newer tree size [default: the whole tree].")
@json_option
@click.pass_obj
def consistency(obj, first: int, second: int | None, json_output: bool) -> None:
    """Print the proof that the tree of size --from is a prefix of the tree of size --to,
    with the stored checkpoints of those sizes when there are any."""
    with ledger_errors():
        ledger = _caught_up(obj, json_output)
        second = ledger.head().size if second is None else second
        root1, root2, path = ledger.consistency(first, second)
        signed1, signed2 = ledger.checkpoint_at(first), ledger.checkpoint_at(second)
    document = {
        "format": CONSISTENCY_FORMAT,
        "first_size": first,
        "second_size": second,
        "first_root": root1.hex(),
        "second_root": root2.hex(),
        "path": hexes(path),
        "first_checkpoint": signed1.note if signed1 else None,
        "second_checkpoint": signed2.note if signed2 else None,
    }
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"tree {first} ({root1.hex()})",
                f"  is a prefix of tree {second} ({root2.hex()})",
                *(f"  {h.hex()}" for h in path),
                f"checkpoints: {first}: {'stored' if signed1 else 'none'}, "
                f"{second}: {'stored' if signed2 else 'none'}",
            ]
        ),
    )


@ledger_group.command("verify-proof")
@click.argument("file", type=click.File("rb"))
@public_key_option
@json_option
def verify_proof(file, public_key: str | None, json_output: bool) -> None:
    """Check a proof document offline (from 'ledger proof|consistency --json', or '-').

    A proof whose root is vouched for by a checkpoint needs the log's public
    key (--public-key) to mean anything, and is refused without it.
    """
    data = file.read()
    verifiers = [parse_verifier(public_key)] if public_key else []
    report: ProofReport = check_proof_document(data, verifiers)
    if report.checkpoints and not verifiers:
        raise CliError("the proof carries a signed checkpoint: pass --public-key to check it", INVALID)
    if not report.signed and report.ok:
        note("opsledger: warning: the root is not signed by any checkpoint; only the hashing is proved")
    emit(
        {
            "ok": report.ok,
            "tree_size": report.tree_size,
            "root_hash": report.root_hash,
            "consistency": report.consistency,
            "signed": report.signed,
            "origin": report.origin,
            "findings": [str(f) for f in report.findings],
        },
        json_output=json_output,
        human=lambda: "\n".join(
            [f"proof: {'OK' if report.ok else 'FAILED'} (tree {report.tree_size}, "
             f"{'signed by ' + str(report.origin) if report.signed else 'root not signed'})"]
            + [f"  - {f}" for f in report.findings]
        ),
    )
    if not report.ok:
        raise click.exceptions.Exit(REFUSED)


def register(cli: click.Group) -> None:
    cli.add_command(ledger_group)
