"""The ledger's use cases: the Merkle log of every event, signed checkpoints,
proofs, and the proofs an archive carries.

Checkpoints are signed with the key of `opsledger keys init`; publishing them
outside the database (a folder, an S3 prefix) is what makes a rewritten or
truncated log detectable later, since whoever can rewrite the database can
rewrite what it stores too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.signing_keys import Ed25519Verifier, SigningKeyError
from opsledger.archiver.verify.proof_document import check_proof_document
from opsledger.archiver.verify.proof_format import (
    CONSISTENCY_FORMAT,
    INCLUSION_FORMAT,
    ProofReport,
)
from opsledger.archiver.verify.tlog_proof import HEADER as TLOG_PROOF_HEADER
from opsledger.archiver.verify.tlog_proof import check_tlog_proof
from opsledger.domain.runbook import ACTION_AUTHORITY
from opsledger.projections.ledger import LedgerBehind, LedgerInputError, LedgerStateError
from opsledger.projections.ledger_log import Ledger, StoredCheckpoint, StoredEvent
from opsledger.services.checkpoints import publish_checkpoint, publish_to, published_note
from opsledger.services.errors import Incomplete, InvalidRequest, Refused
from opsledger.services.keys import has_signer, signer
from opsledger.services.witnesses import request_cosignatures

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


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


def parse_verifier(value: str, *, where: str = "--public-key") -> Ed25519Verifier:
    """A verifier key itself, or a file holding it; `where` it was given names
    it in an error (the option, or a trust file's line)."""
    text = value
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"{where} {value}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return Ed25519Verifier.from_verifier_key(text)
    except SigningKeyError as e:
        raise InvalidRequest(f"{where}: {e}") from None


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
    witness: bool = False,
    progress: LedgerProgress | None = None,
    notify: Notify = _silent,
) -> dict[str, Any]:
    """Catches the ledger up and signs a checkpoint of the whole tree; with
    `witness`, has the configured witnesses cosign it; with `destination`,
    also publishes it there (create-only).

    Signing a checkpoint is a recording command like any other: the acting
    person (the holder of the signing SSH key) must hold a role the runbook
    gives it (runbook.ACTION_AUTHORITY["ledger_checkpoint"])."""
    person = services.app.person()
    services.ledger_app.get_roster().authorise(
        person, ACTION_AUTHORITY["ledger_checkpoint"], None, "signing a ledger checkpoint"
    )
    key = signer(services, key_file)
    if witness and not services.settings.witnesses:
        raise InvalidRequest("--witness: no witness configured (OPSLEDGER_WITNESSES=URL=KEY ...)")
    cosigning = None
    store = services.archive_store(destination) if destination else None
    with ledger_errors():
        ledger = caught_up(services, progress)
        signed = ledger.sign(key, "checkpoint")
        if witness:
            hint = max((c.size for c in ledger.checkpoints() if c.size < signed.size), default=0)
            # a rerun reuses the cosignatures published with this checkpoint: same bytes again
            already = published_note(store, signed.size) if store is not None else None
            cosigning = request_cosignatures(services, ledger, signed.note, hint=hint,
                                             notify=notify, already=already)
            signed = replace(signed, note=cosigning.note)
    location = None
    if store is not None and cosigning is not None:
        location = publish_checkpoint(store, signed, notify)
    elif store is not None:
        location = publish_to(store, signed)
    document: dict[str, Any] = {
        "origin": key.name,
        "tree_size": signed.size,
        "root_hash": signed.root_hash.hex(),
        "checkpoint": signed.note,
        "published": location,
    }
    if cosigning is not None:
        document["witnesses"] = {
            "cosigned": cosigning.cosigned,
            "asked": len(cosigning.outcomes),
            "milliseconds": round(cosigning.milliseconds, 1),
            "outcomes": [{"url": o.url, "witness": o.witness, "cosigned": o.cosigned,
                          "detail": o.detail} for o in cosigning.outcomes],
        }
    return document


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
    if key_file is None and not has_signer(services):
        return None
    if key_file is not None and not key_file.exists():
        return None
    return ledger.sign(signer(services, key_file), "proof")


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


TLOG_PROOF = (TLOG_PROOF_HEADER + "\n").encode()


def check_proof(
    data: bytes, public_key: str | None = None, *, notify: Notify = _silent
) -> dict[str, Any]:
    """Checks a proof document offline. A proof whose root a checkpoint vouches
    for needs the log's public key to mean anything, and is refused without it."""
    verifiers = [parse_verifier(public_key)] if public_key else []
    report: ProofReport = (check_tlog_proof(data, verifiers) if data.startswith(TLOG_PROOF)
                           else check_proof_document(data, verifiers))
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


def latest_checkpoint(services: Services) -> dict[str, Any]:
    """The largest signed checkpoint stored (NotFound before the first is signed)."""
    from opsledger.domain.errors import NotFound

    with ledger_errors():
        checkpoints = services.ledger.checkpoints()
    if not checkpoints:
        raise NotFound("ledger", "no checkpoint has been signed yet (opsledger ledger checkpoint)")
    latest = max(checkpoints, key=lambda c: c.size)
    return {"size": latest.size, "note": latest.note}
