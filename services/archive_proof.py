"""One archived event's proof, exported in the C2SP tlog-proof format (see
archiver.verify.tlog_proof), from the archive file alone: its events, its
proofs.json and its checkpoint (with whatever cosignatures it carries)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.archiver.verify.proof_format import (
    CHECKPOINT,
    EVENTS,
    PROOFS,
    ROSTER,
    Malformed,
    event_leaf_hash,
    hashes_of,
    int_of,
    json_object,
)
from opsledger.archiver.verify.tlog_proof import TlogProof
from opsledger.archiver.verify.verifier import verify_archive
from opsledger.domain.checkpoint import Checkpoint, CheckpointError, split_note
from opsledger.domain.merkle import InvalidProofError, MerkleError, check_inclusion
from opsledger.services.archive_check import _open_target
from opsledger.services.errors import InvalidRequest, Refused

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def export_tlog_proof(
    services: Services, target: str, position: int, *, manifest: Path | None = None
) -> dict[str, Any]:
    """The tlog-proof of the event at log `position` in the archive `target`
    (a .tar.zst file or s3:// URI). The archive's bytes are checked first and
    the proof's hashing before it is written; its signatures are for whoever
    reads the proof to check, with the keys they trust."""
    stream, detached, label = _open_target(services, target, manifest)
    try:
        report = verify_archive(stream, detached_manifest=detached)
    finally:
        stream.close()
    if report.findings:
        raise Refused(f"{label}: fails its integrity check ({report.findings[0]}); no proof exported")
    tags = report.tag_files
    if CHECKPOINT not in tags or PROOFS not in tags:
        raise Refused(f"{label}: carries no ledger proofs (sealed without a signing key)")
    line = _event_line(tags, position)
    if line is None:
        raise InvalidRequest(f"{label}: no event at log position {position} in the archive")
    note = tags[CHECKPOINT].decode("utf-8")
    try:
        checkpoint = Checkpoint.from_text(split_note(note)[0])
        entry = next(e for e in json_object(tags[PROOFS])["inclusion"]
                     if int_of(e, "position") == position)
        index, path = int_of(entry, "leaf_index"), hashes_of(entry, "path")
        check_inclusion(event_leaf_hash(json.loads(line)), index, checkpoint.size, path,
                        checkpoint.root_hash)
    except StopIteration:
        raise Refused(f"{label}: no inclusion proof for position {position}") from None
    except (CheckpointError, Malformed, InvalidProofError, MerkleError, ValueError) as e:
        raise Refused(f"{label}: the proof of position {position} does not hold: {e}") from None
    proof = TlogProof(index, tuple(path), note, extra=line)
    return {"target": label, "position": position, "index": index,
            "tree_size": checkpoint.size, "origin": checkpoint.origin, "proof": proof.to_text()}


def _event_line(tags: dict[str, bytes], position: int) -> bytes | None:
    for name in (EVENTS, ROSTER):
        for line in tags.get(name, b"").split(b"\n"):
            try:
                if line and json.loads(line).get("position") == position:
                    return line
            except (ValueError, AttributeError):
                continue
    return None
