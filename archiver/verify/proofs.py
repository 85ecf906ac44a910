"""Offline check of an archive's ledger proofs: its events, checkpoint and proofs.json.

An auditor needs only the bytes and the log's public key. For an archive the
tag files are:

- ``opsledger/events.jsonl``: one canonical JSON object per ticket event,
  ``{"originator_id", "originator_version", "position", "state", "topic"}``,
  ``state`` being the stored bytes as UTF-8 text (or ``state_base64``);
- ``opsledger/checkpoint.txt``: the signed C2SP checkpoint of the tree that
  ends at the ticket's last event;
- ``opsledger/proofs.json``::

      {"format": "opsledger-proofs/1", "tree_size": S, "root_hash": hex,
       "inclusion": [{"position": p, "leaf_index": i, "leaf_hash": hex,
                      "path": [hex, ...]}, ...],
       "consistency": null | {"previous_checkpoint": signed note,
                              "first_size": a, "second_size": b,
                              "path": [hex, ...]}}

  The consistency proof runs from the smaller tree to the larger: usually from
  the seal before this one, but sessions overlap, so the seal before may end
  later than this ticket's last event and then the proof runs the other way.

Every event's leaf hash is recomputed from its line, then proved under the
signed root at the leaf index given, in increasing order of both position and
leaf index, so the events are shown present, unaltered and in log order.
Hashes in JSON are lower-case hex. Every problem becomes a finding; nothing
stops at the first.

Stand-alone proof documents are checked by ``verify.proof_document``; the
formats, report and field readers both share are in ``verify.proof_format``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opsledger.archiver.verify.proof_format import (
    ARCHIVE_FORMAT,
    CHECKPOINT,
    EVENTS,
    PROOFS,
    ROSTER,
    Malformed,
    ProofReport,
    event_leaf_hash,
    field_of,
    hashes_of,
    hex_of,
    int_of,
    json_object,
    read_checkpoint,
    reason,
)
from opsledger.domain.checkpoint import SignatureVerifier
from opsledger.domain.merkle import (
    InvalidProofError,
    MerkleError,
    check_consistency,
    check_inclusion,
)


def check_archive_proofs(
    tag_files: Mapping[str, bytes], verifiers: Sequence[SignatureVerifier]
) -> ProofReport:
    """Checks an archive's checkpoint, inclusion and consistency proofs offline."""
    report = ProofReport()
    missing = [name for name in (EVENTS, CHECKPOINT, PROOFS) if name not in tag_files]
    if missing:
        report.add("missing", None, "the archive carries no " + ", no ".join(missing))
        return report
    checkpoint = read_checkpoint(report, tag_files[CHECKPOINT], verifiers, CHECKPOINT)
    try:
        proofs = json_object(tag_files[PROOFS])
        if proofs.get("format") != ARCHIVE_FORMAT:
            raise Malformed(f"format is {proofs.get('format')!r}, expected {ARCHIVE_FORMAT!r}")
        size, root = int_of(proofs, "tree_size"), hex_of(proofs, "root_hash")
        entries = field_of(proofs, "inclusion", list)
    except Malformed as e:
        report.add("malformed", PROOFS, str(e))
        return report
    report.tree_size, report.root_hash = size, root.hex()
    if checkpoint is not None and (checkpoint.size, checkpoint.root_hash) != (size, root):
        report.add(
            "checkpoint", PROOFS, f"is for tree {size}, the checkpoint signs tree {checkpoint.size}"
            if checkpoint.size != size else "its root is not the checkpoint's root"
        )
    by_position: dict[int, Mapping[str, Any]] = {}
    for n, entry in enumerate(entries):
        try:
            position = int_of(entry, "position")
        except Malformed as e:
            report.add("malformed", PROOFS, f"inclusion entry {n}: {e}")
            continue
        if position in by_position:
            report.add("malformed", PROOFS, f"two inclusion proofs for position {position}")
        by_position[position] = entry
    _check_events(report, tag_files[EVENTS], by_position, size, root, EVENTS)
    _check_roster(report, tag_files.get(ROSTER), by_position, size, root)
    for position in sorted(by_position):
        report.add("malformed", PROOFS, f"an inclusion proof for position {position}, no such event")
    _check_archive_consistency(report, proofs.get("consistency"), size, root, verifiers)
    return report


def _check_roster(
    report: ProofReport,
    data: bytes | None,
    by_position: dict[int, Mapping[str, Any]],
    size: int,
    root: bytes,
) -> None:
    """The roster's events are proved like the ticket's: the keys and roles the
    signatures are replayed against must be the log's own, not a roster put
    into the archive afterwards."""
    if not data:
        return
    lines = [line for line in data.split(b"\n") if line]
    if not any(b'"position"' in line for line in lines):
        report.add("inclusion", ROSTER, "the roster is not proved by the log (an archive "
                   "sealed before roster proofs): its keys and roles are unanchored")
        return
    _check_events(report, data, by_position, size, root, ROSTER)


def _check_events(
    report: ProofReport,
    data: bytes,
    by_position: dict[int, Mapping[str, Any]],
    size: int,
    root: bytes,
    name: str,
) -> None:
    last_position, last_index = 0, -1
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        where = f"{name} line {number}"
        try:
            event = json.loads(line)
            leaf = event_leaf_hash(event)
            position = int_of(event, "position")
        except (ValueError, Malformed, RecursionError) as e:
            report.add("leaf", where, f"unreadable event: {reason(e)}")
            continue
        entry = by_position.pop(position, None)
        if entry is None:
            report.add("inclusion", where, f"no inclusion proof for position {position}")
            continue
        try:
            index, path = int_of(entry, "leaf_index"), hashes_of(entry, "path")
            claimed = hex_of(entry, "leaf_hash")
        except Malformed as e:
            report.add("malformed", PROOFS, f"inclusion proof of position {position}: {e}")
            continue
        if position <= last_position or index <= last_index:
            report.add("order", where, f"position {position} (leaf {index}) is out of log order")
        last_position, last_index = max(last_position, position), max(last_index, index)
        try:
            check_inclusion(leaf, index, size, path, root)
        except (InvalidProofError, MerkleError) as e:
            if claimed != leaf and _included(claimed, index, size, path, root):
                report.add("inclusion", where, f"position {position}: the event differs from the leaf proved")
            else:
                report.add("inclusion", where, f"position {position}: {e}")
            continue
        if claimed != leaf:
            report.add("leaf", PROOFS, f"position {position}: leaf_hash is not the event's leaf hash")
            continue
        if name == EVENTS:  # the ticket's events; the roster's are counted apart
            report.events += 1


def _included(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    try:
        check_inclusion(leaf, index, size, path, root)
    except (InvalidProofError, MerkleError):
        return False
    return True


def _check_archive_consistency(
    report: ProofReport,
    section: Any,
    size: int,
    root: bytes,
    verifiers: Sequence[SignatureVerifier],
) -> None:
    if section is None:
        return  # the first seal of this log: nothing before it to be consistent with
    try:
        if not isinstance(section, Mapping):
            raise Malformed("consistency must be an object or null")
        note = field_of(section, "previous_checkpoint", str)
        first, second = int_of(section, "first_size"), int_of(section, "second_size")
        path = hashes_of(section, "path")
    except Malformed as e:
        report.add("malformed", PROOFS, f"consistency: {e}")
        return
    previous = read_checkpoint(report, note.encode("utf-8"), verifiers, f"{PROOFS} previous checkpoint")
    if previous is None:
        return
    sizes = {previous.size: previous.root_hash, size: root}
    if {first, second} != set(sizes) or first > second:
        report.add(
            "consistency", PROOFS,
            f"proves {first} -> {second}, the checkpoints are of sizes {previous.size} and {size}",
        )
        return
    report.consistency = f"{first} -> {second}"
    try:
        check_consistency(first, second, path, sizes[first], sizes[second])
    except (InvalidProofError, MerkleError) as e:
        report.add("consistency", PROOFS, str(e))
