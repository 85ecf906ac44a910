"""The ledger's part in archives: the proofs a sealed archive carries, the
checkpoints each seal publishes outside the database, and the offline check
of an archive's proofs against log keys an auditor trusts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opsledger.adapters.signing_keys import Ed25519Verifier
from opsledger.archiver.verify.proof_format import (
    ARCHIVE_FORMAT,
    CHECKPOINT,
    PROOFS,
    VERIFIER_KEY,
)
from opsledger.archiver.verify.proofs import check_archive_proofs
from opsledger.domain.persistence import canonical_json
from opsledger.projections.ledger_log import SealProofs
from opsledger.services.checkpoints import publish_checkpoint, published_note
from opsledger.services.keys import has_signer, key_path, signer
from opsledger.services.ledger import caught_up, hexes, ledger_errors
from opsledger.services.trust import Trust, note_quorum_findings, read_trust
from opsledger.services.witnesses import request_cosignatures

if TYPE_CHECKING:
    from opsledger.archiver.stores.port import ArchiveStore
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def ledger_tag_files(
    services: Services,
    key: str,
    events: bytes,
    *,
    notify: Notify = _silent,
    publish_in: ArchiveStore | None = None,
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
    if not has_signer(services):
        notify(
            f"opsledger: warning: no signing key at {key_path(services, None)}; {key}'s archive "
            "carries no ledger proofs (create the key with 'opsledger keys init' before sealing)"
        )
        return {}, [("Opsledger-Proofs", "none (no signing key)")]
    key_signer = signer(services)
    positions = sorted(json.loads(line)["position"] for line in events.splitlines() if line)
    with ledger_errors():
        ledger = caught_up(services)
        proofs = ledger.seal(key, positions, key_signer)
    checkpoint, info = proofs.checkpoint, []
    if services.settings.witnesses:  # C2SP tlog-witness: each asked from the seal before
        previous = proofs.previous.size if proofs.previous is not None else 0
        # a rerun reuses the cosignatures published with this checkpoint: same bytes again
        already = published_note(publish_in, checkpoint.size) if publish_in is not None else None
        with ledger_errors():
            cosigning = request_cosignatures(services, ledger, checkpoint.note, hint=previous,
                                             notify=notify, already=already)
        checkpoint = replace(checkpoint, note=cosigning.note)
        info.append(("Opsledger-Witnesses", cosigning.summary))
        notify(f"opsledger: {key}'s checkpoint (tree {checkpoint.size}): witnesses "
               f"{cosigning.summary}, {cosigning.milliseconds:.0f} ms")
    if publish_in is not None:  # outside the database, create-only, beside the archive
        publish_checkpoint(publish_in, checkpoint, notify)
    document = archive_proofs_document(proofs)
    consistency = document["consistency"]
    summary = f"rfc9162 tree {checkpoint.size}, {len(proofs.inclusions)} inclusion proofs"
    if consistency is not None:
        summary += f", consistency {consistency['first_size']} -> {consistency['second_size']}"
    return (
        {
            CHECKPOINT: checkpoint.note.encode("utf-8"),
            PROOFS: canonical_json(document) + b"\n",
            VERIFIER_KEY: (key_signer.verifier_key + "\n").encode("utf-8"),
        },
        [("Opsledger-Proofs", summary), *info],
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


def archive_proof_findings(tag_files: dict[str, bytes],
                           verifiers: Sequence[Ed25519Verifier]) -> list[str]:
    """What `archive verify --public-key/--trust` adds: every failing proof, as lines."""
    report = check_archive_proofs(tag_files, list(verifiers))
    return [str(f) for f in report.findings]


def quorum_findings(tag_files: dict[str, bytes], trust: Trust) -> list[str]:
    """A missing quorum on the archive's checkpoint, as one finding."""
    note = tag_files.get(CHECKPOINT)
    if note is None and trust.quorum:
        return [f"witness-quorum: {trust.quorum} cosignature(s) required, the archive "
                f"carries no {CHECKPOINT}"]
    return note_quorum_findings(CHECKPOINT, note or b"", trust)


__all__ = ["Trust", "read_trust", "quorum_findings", "archive_proof_findings", "ledger_tag_files"]
