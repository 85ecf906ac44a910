"""`opsledger ledger status|checkpoint|verify|proof|consistency|verify-proof`.

The ledger is the RFC 9162 Merkle tree over every stored event, kept by a
tracked consumer in the views' store. Checkpoints are signed with the key of
`opsledger keys init`; publishing them outside the database (a folder, an S3
prefix) is what makes a rewritten or truncated log detectable later, since
whoever can rewrite the database can rewrite what it stores too.

`ledger_tag_files` is what `archive build` calls to put the ledger's proofs
into a session's archive.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from opsledger.archiver.verify.proof_document import check_proof_document
from opsledger.archiver.verify.proof_format import (
    ARCHIVE_FORMAT,
    CHECKPOINT,
    CONSISTENCY_FORMAT,
    INCLUSION_FORMAT,
    PROOFS,
    VERIFIER_KEY,
    ProofReport,
)
from opsledger.archiver.verify.proofs import check_archive_proofs
from opsledger.cli.commands.keys import key_file_option, key_path
from opsledger.cli.errors import INCOMPLETE, INVALID, REFUSED, CliError
from opsledger.cli.keys import Ed25519Signer, Ed25519Verifier, SigningKeyError, load_key
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, is_interactive, note
from opsledger.domain.persistence import canonical_json
from opsledger.projections import ProjectionError
from opsledger.projections.ledger import LedgerBehind, LedgerInputError, LedgerStateError
from opsledger.projections.ledger_audit import audit
from opsledger.projections.ledger_log import Ledger, SealProofs, StoredCheckpoint, StoredEvent

PUBLISHED = re.compile(r"checkpoint-(0|[1-9][0-9]*)\.txt")
MAX_NOTE = 64 << 10

public_key_option = click.option(
    "--public-key",
    "public_key",
    metavar="KEY",
    help="The log's verifier key (name+hash+base64, as 'keys show' prints), or a file holding it.",
)


@contextmanager
def _ledger_errors() -> Iterator[None]:
    """The ledger's errors as exit codes: bad input 2, behind or inconsistent 3/1."""
    try:
        yield
    except LedgerInputError as e:
        raise CliError(str(e), INVALID) from None
    except LedgerBehind as e:
        raise CliError(str(e), INCOMPLETE) from None
    except LedgerStateError as e:
        raise CliError(f"{e} (run 'opsledger ledger verify')", REFUSED) from None


def _caught_up(obj, json_output: bool) -> Ledger:
    ledger: Ledger = obj.ledger
    shown = is_interactive() and not json_output

    def line(p: Any) -> None:
        sys.stderr.write(f"\r\033[Kledger: {p.position:,}/{p.head:,}")
        sys.stderr.flush()

    ledger.projector.progress = line if shown else None
    try:
        ledger.catch_up()
    finally:
        if shown:
            sys.stderr.write("\r\033[K")
    return ledger


def _signer(obj, key_file: Path | None) -> Ed25519Signer:
    return load_key(key_path(obj, key_file))


def parse_verifier(value: str) -> Ed25519Verifier:
    """--public-key: the verifier key itself, or a file holding it."""
    text = value
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"--public-key {value}: {getattr(e, 'strerror', None) or e}", INVALID) from None
    try:
        return Ed25519Verifier.from_verifier_key(text)
    except SigningKeyError as e:
        raise CliError(f"--public-key: {e}", INVALID) from None


def _own_verifiers(obj, public_key: str | None, key_file: Path | None) -> list[Ed25519Verifier]:
    """--public-key, else the public half of the local signing key, else none."""
    if public_key:
        return [parse_verifier(public_key)]
    path = key_path(obj, key_file)
    public = path.with_suffix(".pub")
    if public.is_file():
        return [parse_verifier(str(public))]
    if path.exists():
        return [Ed25519Verifier.from_verifier_key(load_key(path).verifier_key)]
    return []


def _publish(obj, destination: str, checkpoint: StoredCheckpoint) -> str:
    """Writes the checkpoint as `checkpoint-<size>.txt`, create-only: the same
    bytes again are kept, another note of that size is refused."""
    store = obj.archive_store(destination)
    data = checkpoint.note.encode("utf-8")
    put = store.put_archive(
        f"checkpoint-{checkpoint.size}.txt",
        io.BytesIO(data),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return put.location


def published_notes(obj, destination: str) -> list[tuple[str, bytes]]:
    """(location, note) of every checkpoint published at `destination`."""
    store = obj.archive_store(destination)
    found = []
    for info in store.list():
        if not PUBLISHED.fullmatch(info.name):
            continue
        with store.open_archive(info.name) as stream:
            found.append((info.location, stream.read(MAX_NOTE + 1)))
    return found


def _hexes(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _event_document(event: StoredEvent) -> dict[str, Any]:
    document: dict[str, Any] = {
        "position": event.position,
        "originator_id": event.originator_id,
        "originator_version": event.originator_version,
        "topic": event.topic,
    }
    try:
        document["state"] = event.state.decode("utf-8")
    except UnicodeDecodeError:
        document["state_base64"] = base64.b64encode(event.state).decode("ascii")
    return document


# --- archives ------------------------------------------------------------------------------


def ledger_tag_files(
    obj, key: str, events: bytes
) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """The ledger's proofs for ticket `key`'s archive: (tag files, bag-info lines).

    `events` is the archive's `opsledger/events.jsonl`. The checkpoint is of the
    tree ending at the ticket's last event, so a rerun of the same seal signs
    the same tree and (Ed25519 being deterministic) writes the same bytes.

    Without a signing key the archive is sealed without proofs, with a warning
    and a bag-info line saying so: refusing would keep the ticket from closing
    over a missing key, while an archive that says it has no proofs fails an
    auditor's `archive verify --public-key` instead of passing it silently.
    """
    path = key_path(obj, None)
    if not path.exists():
        note(
            f"opsledger: warning: no signing key at {path}; {key}'s archive carries no ledger "
            "proofs (create the key with 'opsledger keys init' before sealing)"
        )
        return {}, [("Opsledger-Proofs", "none (no signing key)")]
    signer = load_key(path)
    positions = [json.loads(line)["position"] for line in events.splitlines() if line]
    with _ledger_errors():
        proofs = _caught_up(obj, json_output=True).seal(key, positions, signer)
    document = archive_proofs_document(proofs)
    consistency = document["consistency"]
    summary = f"rfc9162 tree {proofs.checkpoint.size}, {len(proofs.inclusions)} inclusion proofs"
    if consistency is not None:
        summary += f", consistency {consistency['first_size']} -> {consistency['second_size']}"
    return (
        {
            CHECKPOINT: proofs.checkpoint.note.encode("utf-8"),
            PROOFS: canonical_json(document) + b"\n",
            VERIFIER_KEY: (signer.verifier_key + "\n").encode("utf-8"),
        },
        [("Opsledger-Proofs", summary)],
    )


def archive_proofs_document(proofs: SealProofs) -> dict[str, Any]:
    consistency = None
    if proofs.previous is not None:
        first, second = sorted((proofs.previous.size, proofs.checkpoint.size))
        consistency = {
            "previous_checkpoint": proofs.previous.note,
            "first_size": first,
            "second_size": second,
            "path": _hexes(proofs.consistency),
        }
    return {
        "format": ARCHIVE_FORMAT,
        "tree_size": proofs.checkpoint.size,
        "root_hash": proofs.checkpoint.root_hash.hex(),
        "inclusion": [
            {
                "position": e.position,
                "leaf_index": e.leaf_index,
                "leaf_hash": e.leaf_hash.hex(),
                "path": _hexes(e.path),
            }
            for e in proofs.inclusions
        ],
        "consistency": consistency,
    }


def archive_proof_findings(tag_files: dict[str, bytes], public_key: str) -> list[str]:
    """What `archive verify --public-key` adds: every failing proof, as lines."""
    report = check_archive_proofs(tag_files, [parse_verifier(public_key)])
    return [str(f) for f in report.findings]


# --- commands --------------------------------------------------------------------------------


@click.group("ledger")
def ledger_group() -> None:
    """Tamper evidence: the Merkle log of every event, signed checkpoints and proofs."""


@ledger_group.command("status")
@json_option
@click.pass_obj
def status(obj, json_output: bool) -> None:
    """Size and root of the tree as stored, how far behind the log it is, its checkpoints."""
    with _ledger_errors():
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
    signer = _signer(obj, key_file)
    with _ledger_errors():
        ledger = _caught_up(obj, json_output)
        signed = ledger.sign(signer, "checkpoint")
    location = _publish(obj, destination, signed) if destination else None
    emit(
        {
            "origin": signer.name,
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
    verifiers = _own_verifiers(obj, public_key, key_file)
    if not verifiers:
        note("opsledger: warning: no public key; checkpoint signatures are not checked")
    published = []
    for destination in destinations:
        found = published_notes(obj, destination)
        if not found:
            note(f"opsledger: warning: no published checkpoint (checkpoint-<size>.txt) at {destination}")
        published += found
    with _ledger_errors():
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
    with _ledger_errors():
        ledger = _caught_up(obj, json_output)
        index = ledger.leaf_index(position)
        signed = _covering_checkpoint(obj, ledger, index, size, key_file)
        size = signed.size if signed is not None else (size or ledger.head().size)
        entry = ledger.inclusion(index, size)
        root = ledger.root_at(size)
        event = ledger.event(position)
    document = {
        "format": INCLUSION_FORMAT,
        "event": _event_document(event),
        "leaf_index": index,
        "leaf_hash": entry.leaf_hash.hex(),
        "tree_size": size,
        "root_hash": root.hex(),
        "path": _hexes(entry.path),
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
    with _ledger_errors():
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
        "path": _hexes(path),
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
