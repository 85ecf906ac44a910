"""Offline check of one stand-alone proof document.

``opsledger ledger proof|consistency --json`` writes ``opsledger-inclusion-proof/1``
and ``opsledger-consistency-proof/1`` documents; an auditor checks one with only
its bytes and the log's public key. Every problem becomes a finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opsledger.archiver.verify.limits import DEFAULT_LIMITS, LimitExceeded, check_json
from opsledger.archiver.verify.proof_format import (
    CONSISTENCY_FORMAT,
    INCLUSION_FORMAT,
    Malformed,
    ProofDocumentError,
    ProofReport,
    event_leaf_hash,
    field_of,
    hashes_of,
    hex_of,
    int_of,
    json_object,
    read_checkpoint,
)
from opsledger.domain.checkpoint import SignatureVerifier
from opsledger.domain.merkle import (
    InvalidProofError,
    MerkleError,
    check_consistency,
    check_inclusion,
)


def check_proof_document(data: bytes, verifiers: Sequence[SignatureVerifier]) -> ProofReport:
    """Checks an inclusion or consistency proof document; raises ProofDocumentError
    when the bytes are not one at all."""
    try:
        if len(data) > DEFAULT_LIMITS.max_tag_file:
            raise LimitExceeded("its size", DEFAULT_LIMITS.max_tag_file, len(data))
        check_json(data, None)
        document = json_object(data)
    except LimitExceeded as e:
        raise ProofDocumentError(f"not a proof document this verifier reads: {e.finding}") from None
    except Malformed as e:
        raise ProofDocumentError(f"not a proof document: {e}") from None
    kind = document.get("format")
    report = ProofReport()
    try:
        if kind == INCLUSION_FORMAT:
            _inclusion_document(report, document, verifiers)
        elif kind == CONSISTENCY_FORMAT:
            _consistency_document(report, document, verifiers)
        else:
            raise ProofDocumentError(
                f"format {kind!r} is not {INCLUSION_FORMAT!r} or {CONSISTENCY_FORMAT!r}"
            )
    except Malformed as e:
        report.add("malformed", None, str(e))
    return report


def _inclusion_document(
    report: ProofReport, document: Mapping[str, Any], verifiers: Sequence[SignatureVerifier]
) -> None:
    event = field_of(document, "event", dict)
    leaf = event_leaf_hash(event)
    index, size = int_of(document, "leaf_index"), int_of(document, "tree_size")
    root, path = hex_of(document, "root_hash"), hashes_of(document, "path")
    report.tree_size, report.root_hash = size, root.hex()
    _vouch(report, document.get("checkpoint"), size, root, verifiers, "checkpoint")
    try:
        check_inclusion(leaf, index, size, path, root)
    except (InvalidProofError, MerkleError) as e:
        report.add("inclusion", None, f"position {event.get('position')}: {e}")
        return
    report.events = 1


def _consistency_document(
    report: ProofReport, document: Mapping[str, Any], verifiers: Sequence[SignatureVerifier]
) -> None:
    first, second = int_of(document, "first_size"), int_of(document, "second_size")
    root1, root2 = hex_of(document, "first_root"), hex_of(document, "second_root")
    path = hashes_of(document, "path")
    report.tree_size, report.root_hash = second, root2.hex()
    signed1 = _vouch(report, document.get("first_checkpoint"), first, root1, verifiers, "first_checkpoint")
    signed2 = _vouch(report, document.get("second_checkpoint"), second, root2, verifiers, "second_checkpoint")
    report.signed = signed1 and signed2
    report.consistency = f"{first} -> {second}"
    try:
        check_consistency(first, second, path, root1, root2)
    except (InvalidProofError, MerkleError) as e:
        report.add("consistency", None, str(e))


def _vouch(
    report: ProofReport,
    note: Any,
    size: int,
    root: bytes,
    verifiers: Sequence[SignatureVerifier],
    name: str,
) -> bool:
    """Whether a checkpoint in the document signs (size, root); findings if it does not."""
    if note is None:
        report.signed = False
        return False
    if not isinstance(note, str):
        raise Malformed(f"{name} must be a signed note or null")
    report.checkpoints += 1
    checkpoint = read_checkpoint(report, note.encode("utf-8"), verifiers, name)
    if checkpoint is None:
        return False
    if (checkpoint.size, checkpoint.root_hash) != (size, root):
        report.add("checkpoint", name, f"signs tree {checkpoint.size}, not the tree {size} proved")
        return False
    report.signed = bool(verifiers)
    return report.signed
