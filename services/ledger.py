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

from opsledger.adapters.signing_keys import (
    Ed25519Signer,
    Ed25519Verifier,
    SigningKeyError,
    load_key,
)
from opsledger.archiver.verify.proof_format import ARCHIVE_FORMAT, CHECKPOINT, PROOFS, VERIFIER_KEY
from opsledger.archiver.verify.proofs import check_archive_proofs
from opsledger.domain.persistence import canonical_json
from opsledger.projections.ledger import LedgerBehind, LedgerInputError, LedgerStateError
from opsledger.projections.ledger_log import Ledger, SealProofs, StoredCheckpoint, StoredEvent
from opsledger.services.errors import Incomplete, InvalidRequest, Refused
from opsledger.services.keys import key_path

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


def signer(services: Services, key_file: Path | None) -> Ed25519Signer:
    return load_key(key_path(services, key_file))


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
