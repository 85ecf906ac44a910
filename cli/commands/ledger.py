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
from opsledger.cli.errors import INCOMPLETE, REFUSED
from opsledger.cli.options import count, json_option, key_file_option, public_key_option
from opsledger.cli.output import emit, is_interactive, note
from opsledger.services.ledger import (
    check_proof,
    ledger_status,
    prove_consistency,
    prove_inclusion,
    sign_checkpoint,
)
from opsledger.services.ledger_verify import verify_ledger


class _LedgerLine:
    """The ledger's catch-up on a terminal: one line, redrawn; nothing under --json.

    `callback` is None when nothing is shown; the line is cleared on leaving and
    before any notice, so that a warning never lands on the progress line."""

    def __init__(self, json_output: bool) -> None:
        self.callback = self._draw if is_interactive() and not json_output else None

    def _draw(self, p: Any) -> None:
        sys.stderr.write(f"\r\033[Kledger: {p.position:,}/{p.head:,}")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.callback is not None:
            sys.stderr.write("\r\033[K")

    def note(self, message: str) -> None:
        self.clear()
        note(message)

    def __enter__(self) -> _LedgerLine:
        return self

    def __exit__(self, *_: object) -> None:
        self.clear()


# --- commands --------------------------------------------------------------------------------


@click.group("ledger")
def ledger_group() -> None:
    """Tamper evidence: the Merkle log of every event, signed checkpoints and proofs."""


@ledger_group.command("status")
@json_option
@click.pass_obj
def status(obj, json_output: bool) -> None:
    """Size and root of the tree as stored, how far behind the log it is, its checkpoints."""
    document = ledger_status(obj)
    sizes = document["checkpoints"]
    emit(
        document,
        json_output=json_output,
        human=lambda: f"tree size {document['tree_size']}, root {document['root_hash']}\n"
        f"position {document['position']} of {document['head']} (lag {document['lag']}); "
        f"{len(sizes)} checkpoint(s)"
        + (f", latest of size {sizes[-1]}" if sizes else ""),
    )


@ledger_group.command("checkpoint")
@click.option(
    "--publish",
    "destination",
    metavar="DEST",
    help="Also write it as checkpoint-<size>.txt to a folder or s3://bucket/prefix (create-only).",
)
@key_file_option
@click.option(
    "--witness",
    is_flag=True,
    help="Have the configured witnesses (OPSLEDGER_WITNESSES) cosign it (C2SP tlog-witness).",
)
@json_option
@click.pass_obj
def checkpoint(
    obj, destination: str | None, key_file: Path | None, witness: bool, json_output: bool
) -> None:
    """Catch the ledger up, sign a checkpoint of the whole tree and print it."""
    with _LedgerLine(json_output) as line:
        document = sign_checkpoint(
            obj, destination=destination, key_file=key_file, witness=witness,
            progress=line.callback, notify=line.note,
        )
    emit(document, json_output=json_output, human=lambda: document["checkpoint"].rstrip("\n"))
    if document["published"] and not json_output:
        note(f"opsledger: published {document['published']}")
    if "witnesses" in document and not json_output:
        w = document["witnesses"]
        note(f"opsledger: {w['cosigned']} of {w['asked']} witnesses cosigned ({w['milliseconds']} ms)")


@ledger_group.command("verify")
@click.option(
    "--published",
    "destinations",
    metavar="DEST",
    multiple=True,
    help="Check the checkpoints published there (a folder or s3://...); repeatable "
    "[default: the archive store, where every seal publishes its checkpoint].",
)
@public_key_option
@click.option(
    "--trust",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A trust file (as archive verify's): its 'log KEY [until-tree N]' lines are the "
    "keys checked, and every checkpoint outside the database must carry its witness quorum.",
)
@key_file_option
@click.option(
    "--database-only",
    is_flag=True,
    help="Accept a check of the database against itself when no checkpoint was "
    "published outside it (nothing an insider could not rewrite).",
)
@json_option
@click.pass_obj
def verify(
    obj,
    destinations: tuple[str, ...],
    public_key: str | None,
    trust: Path | None,
    key_file: Path | None,
    database_only: bool,
    json_output: bool,
) -> None:
    """Recompute the tree from the log; check it against the stored leaves and
    every stored and published checkpoint, and the checkpoint inside every
    sealed archive in the store.

    Lists each altered, deleted, inserted, reordered or truncated event with its
    position. Exits 0 when everything holds, 1 on any finding, 3 when no
    checkpoint published outside the database was found to check against
    (unless --database-only).
    """
    with _LedgerLine(json_output) as line:
        document = verify_ledger(
            obj,
            destinations=destinations,
            public_key=public_key,
            trust=trust,
            key_file=key_file,
            progress=line.callback,
            notify=line.note,
        )
    if document["integrity"]:  # one line: what is damaged; nothing else was read
        emit(document, json_output=json_output,
             human=lambda: f"ledger: DAMAGED store, integrity check failed: "
             f"{'; '.join(document['integrity'])}")
        raise click.exceptions.Exit(REFUSED)
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"ledger: {'OK' if document['ok'] else 'TAMPERED'} ({document['log_events']} events, "
                f"{document['checkpoints_checked']} checkpoint(s) checked, root {document['log_root']})"
            ]
            + [f"  - {_finding_line(f)}" for f in document["findings"]]
        ),
    )
    if not document["ok"]:
        raise click.exceptions.Exit(REFUSED)
    if not document["independent"] and not database_only:
        note("opsledger: nothing independent to check against: no checkpoint published "
             "outside the database (seal an archive, or 'ledger checkpoint --publish DEST')")
        raise click.exceptions.Exit(INCOMPLETE)


def _finding_line(finding: dict[str, Any]) -> str:
    where = f" position {finding['position']}" if finding["position"] is not None else ""
    return f"{finding['kind']}{where}: {finding['detail']}"


@ledger_group.command("proof")
@click.option("--position", type=count(), required=True, help="The event's log position.")
@click.option(
    "--size",
    type=count(),
    help="Tree size to prove it in [default: the latest checkpoint covering it, else a new one].",
)
@key_file_option
@json_option
@click.pass_obj
def proof(obj, position: int, size: int | None, key_file: Path | None, json_output: bool) -> None:
    """Print the inclusion proof of the event at --position (the document
    'ledger verify-proof' checks, under --json)."""
    with _LedgerLine(json_output) as line:
        document = prove_inclusion(
            obj, position, size=size, key_file=key_file, progress=line.callback
        )
    signed = document["checkpoint"] is not None
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"position {position}: leaf {document['leaf_index']} of tree "
                f"{document['tree_size']} ({document['event']['topic']})",
                f"leaf hash {document['leaf_hash']}",
                f"root      {document['root_hash']}",
                *(f"  {h}" for h in document["path"]),
                f"checkpoint: {'of size ' + str(document['tree_size']) if signed else 'none (unsigned root)'}",
            ]
        ),
    )


@ledger_group.command("consistency")
@click.option("--from", "first", type=count(0), required=True, help="The older tree size.")
@click.option("--to", "second", type=count(0), help="The newer tree size [default: the whole tree].")
@json_option
@click.pass_obj
def consistency(obj, first: int, second: int | None, json_output: bool) -> None:
    """Print the proof that the tree of size --from is a prefix of the tree of size --to,
    with the stored checkpoints of those sizes when there are any."""
    with _LedgerLine(json_output) as line:
        document = prove_consistency(obj, first, second, progress=line.callback)
    stored1 = document["first_checkpoint"] is not None
    stored2 = document["second_checkpoint"] is not None
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"tree {first} ({document['first_root']})",
                f"  is a prefix of tree {document['second_size']} ({document['second_root']})",
                *(f"  {h}" for h in document["path"]),
                f"checkpoints: {first}: {'stored' if stored1 else 'none'}, "
                f"{document['second_size']}: {'stored' if stored2 else 'none'}",
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
    document = check_proof(file.read(), public_key, notify=note)
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [f"proof: {'OK' if document['ok'] else 'FAILED'} (tree {document['tree_size']}, "
             f"{'signed by ' + str(document['origin']) if document['signed'] else 'root not signed'})"]
            + [f"  - {f}" for f in document["findings"]]
        ),
    )
    if not document["ok"]:
        raise click.exceptions.Exit(REFUSED)


def register(cli: click.Group) -> None:
    cli.add_command(ledger_group)
