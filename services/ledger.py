"""The ledger's use cases: the Merkle log of every event, signed checkpoints,
proofs, and the proofs an archive carries.

Checkpoints are signed with the key of `opsledger keys init`; publishing them
outside the database (a folder, an S3 prefix) is what makes a rewritten or
truncated log detectable later, since whoever can rewrite the database can
rewrite what it stores too.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.signing_keys import Ed25519Verifier, SigningKeyError, load_key
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
from opsledger.domain.persistence import canonical_json
from opsledger.projections import ProjectionError
from opsledger.projections.ledger import LedgerBehind, LedgerInputError, LedgerStateError
from opsledger.projections.ledger_audit import audit
from opsledger.projections.ledger_log import Ledger, SealProofs, StoredCheckpoint, StoredEvent
from opsledger.services.errors import Incomplete, InvalidRequest, Refused
from opsledger.services.keys import key_path, signer

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

PUBLISHED = re.compile(r"checkpoint-(0|[1-9][0-9]*)\.txt")
MAX_NOTE = 64 << 10

Notify = Callable[[str], None]
LedgerProgress = Callable[[Any], None]


def _silent(_: str) -> None:
    pass


@contextmanager
def ledger_errors() -> Iterator[None]:
    """The ledger's errors as exit codes: bad input 2, behind or inconsistent 3/1."""
    try:
        yield
    except LedgerInputError as e:
        raise InvalidRequest(str(e)) from None
    except LedgerBehind as e:
        raise Incomplete(str(e)) from None
    except LedgerStateError as e:
        raise Refused(f"{e} (run 'opsledger ledger verify')") from None


def caught_up(services: Services, progress: LedgerProgress | None = None) -> Ledger:
    """The ledger, caught up to the head of the log (progress: each batch)."""
    ledger: Ledger = services.ledger
    ledger.projector.progress = progress
    try:
        ledger.catch_up()
    finally:
        ledger.projector.progress = None
    return ledger


def parse_verifier(value: str) -> Ed25519Verifier:
    """--public-key: the verifier key itself, or a file holding it."""
    text = value
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"--public-key {value}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return Ed25519Verifier.from_verifier_key(text)
    except SigningKeyError as e:
        raise InvalidRequest(f"--public-key: {e}") from None


def own_verifiers(services: Services, public_key: str | None, key_file: Path | None) -> list[Ed25519Verifier]:
    """--public-key, else the public half of the local signing key, else none."""
    if public_key:
        return [parse_verifier(public_key)]
    path = key_path(services, key_file)
    public = path.with_suffix(".pub")
    if public.is_file():
        return [parse_verifier(str(public))]
    if path.exists():
        return [Ed25519Verifier.from_verifier_key(load_key(path).verifier_key)]
    return []


def publish(services: Services, destination: str, checkpoint: StoredCheckpoint) -> str:
    """Writes the checkpoint as `checkpoint-<size>.txt`, create-only: the same
    bytes again are kept, another note of that size is refused."""
    store = services.archive_store(destination)
    data = checkpoint.note.encode("utf-8")
    put = store.put_archive(
        f"checkpoint-{checkpoint.size}.txt",
        io.BytesIO(data),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return put.location


def published_notes(services: Services, destination: str) -> list[tuple[str, bytes]]:
    """(location, note) of every checkpoint published at `destination`."""
    store = services.archive_store(destination)
    found = []
    for info in store.list():
        if not PUBLISHED.fullmatch(info.name):
            continue
        with store.open_archive(info.name) as stream:
            found.append((info.location, stream.read(MAX_NOTE + 1)))
    return found


def hexes(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def event_document(event: StoredEvent) -> dict[str, Any]:
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


# --- the ledger commands' use cases ------------------------------------------------------


def ledger_status(services: Services) -> dict[str, Any]:
    """Size and root of the tree as stored, how far behind the log it is, its checkpoints."""
    with ledger_errors():
        ledger: Ledger = services.ledger
        state = ledger.status()
        head = ledger.head()
        checkpoints = ledger.checkpoints()
    return {
        "tree_size": head.size,
        "root_hash": head.root_hash.hex(),
        "position": state.position,
        "head": state.head,
        "lag": state.lag,
        "checkpoints": [c.size for c in checkpoints],
    }


def sign_checkpoint(
    services: Services,
    *,
    destination: str | None = None,
    key_file: Path | None = None,
    progress: LedgerProgress | None = None,
) -> dict[str, Any]:
    """Catches the ledger up and signs a checkpoint of the whole tree; with
    `destination`, also publishes it there (create-only)."""
    key = signer(services, key_file)
    with ledger_errors():
        signed = caught_up(services, progress).sign(key, "checkpoint")
    location = publish(services, destination, signed) if destination else None
    return {
        "origin": key.name,
        "tree_size": signed.size,
        "root_hash": signed.root_hash.hex(),
        "checkpoint": signed.note,
        "published": location,
    }


def verify_ledger(
    services: Services,
    *,
    destinations: Sequence[str] = (),
    public_key: str | None = None,
    key_file: Path | None = None,
    progress: LedgerProgress | None = None,
    notify: Notify = _silent,
) -> dict[str, Any]:
    """Recomputes the tree from the log and checks it against the stored leaves
    and every stored and published checkpoint; `ok` is false on any finding."""
    verifiers = own_verifiers(services, public_key, key_file)  # a bad key: said before the store
    try:
        caught_up(services, progress)
    except ProjectionError as e:
        notify(f"opsledger: warning: the ledger could not catch up ({e}); checking what it holds")
    if not verifiers:
        notify("opsledger: warning: no public key; checkpoint signatures are not checked")
    published = []
    for destination in destinations:
        found = published_notes(services, destination)
        if not found:
            notify(
                f"opsledger: warning: no published checkpoint (checkpoint-<size>.txt) at {destination}"
            )
        published += found
    with ledger_errors():
        report = audit(services.ledger, published, verifiers)
    head = report.ledger
    return {
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


def prove_inclusion(
    services: Services,
    position: int,
    *,
    size: int | None = None,
    key_file: Path | None = None,
    progress: LedgerProgress | None = None,
) -> dict[str, Any]:
    """The inclusion proof of the event at `position` (the document
    `check_proof` checks), vouched for by a checkpoint when there is one."""
    with ledger_errors():
        ledger = caught_up(services, progress)
        index = ledger.leaf_index(position)
        signed = _covering_checkpoint(services, ledger, index, size, key_file)
        size = signed.size if signed is not None else (size or ledger.head().size)
        entry = ledger.inclusion(index, size)
        root = ledger.root_at(size)
        event = ledger.event(position)
    return {
        "format": INCLUSION_FORMAT,
        "event": event_document(event),
        "leaf_index": index,
        "leaf_hash": entry.leaf_hash.hex(),
        "tree_size": size,
        "root_hash": root.hex(),
        "path": hexes(entry.path),
        "checkpoint": signed.note if signed is not None else None,
    }


def _covering_checkpoint(
    services: Services, ledger: Ledger, index: int, size: int | None, key_file: Path | None
) -> StoredCheckpoint | None:
    """The checkpoint that vouches for the proof's root: the stored one of `size`,
    else the latest stored one covering the leaf, else one signed now (if a key exists)."""
    if size is not None:
        return ledger.checkpoint_at(size)
    covering = [c for c in ledger.checkpoints() if c.size > index]
    if covering:
        return covering[-1]
    path = key_path(services, key_file)
    return ledger.sign(load_key(path), "proof") if path.exists() else None


def prove_consistency(
    services: Services,
    first: int,
    second: int | None = None,
    *,
    progress: LedgerProgress | None = None,
) -> dict[str, Any]:
    """The proof that the tree of size `first` is a prefix of the tree of size
    `second` (default: the whole tree), with the stored checkpoints of those sizes."""
    with ledger_errors():
        ledger = caught_up(services, progress)
        second = ledger.head().size if second is None else second
        root1, root2, path = ledger.consistency(first, second)
        signed1, signed2 = ledger.checkpoint_at(first), ledger.checkpoint_at(second)
    return {
        "format": CONSISTENCY_FORMAT,
        "first_size": first,
        "second_size": second,
        "first_root": root1.hex(),
        "second_root": root2.hex(),
        "path": hexes(path),
        "first_checkpoint": signed1.note if signed1 else None,
        "second_checkpoint": signed2.note if signed2 else None,
    }


def check_proof(
    data: bytes, public_key: str | None = None, *, notify: Notify = _silent
) -> dict[str, Any]:
    """Checks a proof document offline. A proof whose root a checkpoint vouches
    for needs the log's public key to mean anything, and is refused without it."""
    verifiers = [parse_verifier(public_key)] if public_key else []
    report: ProofReport = check_proof_document(data, verifiers)
    if report.checkpoints and not verifiers:
        raise InvalidRequest("the proof carries a signed checkpoint: pass --public-key to check it")
    if not report.signed and report.ok:
        notify("opsledger: warning: the root is not signed by any checkpoint; only the hashing is proved")
    return {
        "ok": report.ok,
        "tree_size": report.tree_size,
        "root_hash": report.root_hash,
        "consistency": report.consistency,
        "signed": report.signed,
        "origin": report.origin,
        "findings": [str(f) for f in report.findings],
    }


# --- archives ------------------------------------------------------------------------------


def ledger_tag_files(
    services: Services, key: str, events: bytes, *, notify: Notify = _silent
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
    path = key_path(services, None)
    if not path.exists():
        notify(
            f"opsledger: warning: no signing key at {path}; {key}'s archive carries no ledger "
            "proofs (create the key with 'opsledger keys init' before sealing)"
        )
        return {}, [("Opsledger-Proofs", "none (no signing key)")]
    key_signer = load_key(path)
    positions = [json.loads(line)["position"] for line in events.splitlines() if line]
    with ledger_errors():
        proofs = caught_up(services).seal(key, positions, key_signer)
    document = archive_proofs_document(proofs)
    consistency = document["consistency"]
    summary = f"rfc9162 tree {proofs.checkpoint.size}, {len(proofs.inclusions)} inclusion proofs"
    if consistency is not None:
        summary += f", consistency {consistency['first_size']} -> {consistency['second_size']}"
    return (
        {
            CHECKPOINT: proofs.checkpoint.note.encode("utf-8"),
            PROOFS: canonical_json(document) + b"\n",
            VERIFIER_KEY: (key_signer.verifier_key + "\n").encode("utf-8"),
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
            "path": hexes(proofs.consistency),
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
                "path": hexes(e.path),
            }
            for e in proofs.inclusions
        ],
        "consistency": consistency,
    }


def archive_proof_findings(tag_files: dict[str, bytes], public_key: str) -> list[str]:
    """What `archive verify --public-key` adds: every failing proof, as lines."""
    report = check_archive_proofs(tag_files, [parse_verifier(public_key)])
    return [str(f) for f in report.findings]
