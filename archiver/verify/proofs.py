"""Offline checks of the ledger's proofs: an archive's, or one proof document.

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

Stand-alone documents (``opsledger ledger proof|consistency --json``) are
``opsledger-inclusion-proof/1`` and ``opsledger-consistency-proof/1``; see
`check_proof_document`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsledger.archiver.errors import BagInputError
from opsledger.domain.checkpoint import (
    Checkpoint,
    CheckpointError,
    SignatureVerifier,
    open_checkpoint,
    split_note,
)
from opsledger.domain.merkle import (
    InvalidProofError,
    MerkleError,
    check_consistency,
    check_inclusion,
    leaf_bytes,
    leaf_hash,
)

EVENTS = "opsledger/events.jsonl"
CHECKPOINT = "opsledger/checkpoint.txt"
PROOFS = "opsledger/proofs.json"
VERIFIER_KEY = "opsledger/verifier-key.txt"
ARCHIVE_FORMAT = "opsledger-proofs/1"
INCLUSION_FORMAT = "opsledger-inclusion-proof/1"
CONSISTENCY_FORMAT = "opsledger-consistency-proof/1"


class ProofDocumentError(BagInputError):
    """The bytes are not a proof document this version reads."""


@dataclass(frozen=True)
class ProofFinding:
    kind: str  # proofs-missing, malformed, signature, checkpoint, leaf, inclusion, order, consistency
    path: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.path!r}" if self.path else ""
        return f"proof-{self.kind}{where}: {self.message}"


@dataclass
class ProofReport:
    findings: list[ProofFinding] = field(default_factory=list)
    origin: str | None = None
    tree_size: int | None = None
    root_hash: str | None = None
    events: int = 0  # events proved included
    consistency: str | None = None  # "a -> b", or None when there is none
    signed: bool = False  # a checkpoint vouches for the root (checked when verifiers were given)
    checkpoints: int = 0  # signed notes the document carries

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, path: str | None, message: str) -> None:
        self.findings.append(ProofFinding(kind, path, message))


class _Bad(Exception):
    """A field is missing or malformed; becomes one finding."""


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """The RFC 9162 leaf hash of one event object (see the module docstring)."""
    if not isinstance(event, Mapping):
        raise _Bad("an event must be a JSON object")
    if "state_base64" in event:
        try:
            state = base64.b64decode(_field(event, "state_base64", str), validate=True)
        except (binascii.Error, ValueError):
            raise _Bad("state_base64 is not base64") from None
    else:
        state = _field(event, "state", str).encode("utf-8")
    try:
        return leaf_hash(
            leaf_bytes(
                _int(event, "position"),
                _field(event, "originator_id", str),
                _int(event, "originator_version"),
                _field(event, "topic", str),
                state,
            )
        )
    except MerkleError as e:
        raise _Bad(str(e)) from None


def check_archive_proofs(
    tag_files: Mapping[str, bytes], verifiers: Sequence[SignatureVerifier]
) -> ProofReport:
    """Checks an archive's checkpoint, inclusion and consistency proofs offline."""
    report = ProofReport()
    missing = [name for name in (EVENTS, CHECKPOINT, PROOFS) if name not in tag_files]
    if missing:
        report.add("missing", None, "the archive carries no " + ", no ".join(missing))
        return report
    checkpoint = _checkpoint(report, tag_files[CHECKPOINT], verifiers, CHECKPOINT)
    try:
        proofs = _json_object(tag_files[PROOFS])
        if proofs.get("format") != ARCHIVE_FORMAT:
            raise _Bad(f"format is {proofs.get('format')!r}, expected {ARCHIVE_FORMAT!r}")
        size, root = _int(proofs, "tree_size"), _hex(proofs, "root_hash")
        entries = _field(proofs, "inclusion", list)
    except _Bad as e:
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
            position = _int(entry, "position")
        except _Bad as e:
            report.add("malformed", PROOFS, f"inclusion entry {n}: {e}")
            continue
        if position in by_position:
            report.add("malformed", PROOFS, f"two inclusion proofs for position {position}")
        by_position[position] = entry
    _check_events(report, tag_files[EVENTS], by_position, size, root)
    for position in sorted(by_position):
        report.add("malformed", PROOFS, f"an inclusion proof for position {position}, no such event")
    _check_archive_consistency(report, proofs.get("consistency"), size, root, verifiers)
    return report


def _check_events(
    report: ProofReport,
    data: bytes,
    by_position: dict[int, Mapping[str, Any]],
    size: int,
    root: bytes,
) -> None:
    last_position, last_index = 0, -1
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        where = f"{EVENTS} line {number}"
        try:
            event = json.loads(line)
            leaf = event_leaf_hash(event)
            position = _int(event, "position")
        except (ValueError, _Bad) as e:
            report.add("leaf", where, f"unreadable event: {_reason(e)}")
            continue
        entry = by_position.pop(position, None)
        if entry is None:
            report.add("inclusion", where, f"no inclusion proof for position {position}")
            continue
        try:
            index, path = _int(entry, "leaf_index"), _hashes(entry, "path")
            claimed = _hex(entry, "leaf_hash")
        except _Bad as e:
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
            raise _Bad("consistency must be an object or null")
        note = _field(section, "previous_checkpoint", str)
        first, second = _int(section, "first_size"), _int(section, "second_size")
        path = _hashes(section, "path")
    except _Bad as e:
        report.add("malformed", PROOFS, f"consistency: {e}")
        return
    previous = _checkpoint(report, note.encode("utf-8"), verifiers, f"{PROOFS} previous checkpoint")
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


def check_proof_document(data: bytes, verifiers: Sequence[SignatureVerifier]) -> ProofReport:
    """Checks an inclusion or consistency proof document; raises ProofDocumentError
    when the bytes are not one at all."""
    try:
        document = _json_object(data)
    except _Bad as e:
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
    except _Bad as e:
        report.add("malformed", None, str(e))
    return report


def _inclusion_document(
    report: ProofReport, document: Mapping[str, Any], verifiers: Sequence[SignatureVerifier]
) -> None:
    event = _field(document, "event", dict)
    leaf = event_leaf_hash(event)
    index, size = _int(document, "leaf_index"), _int(document, "tree_size")
    root, path = _hex(document, "root_hash"), _hashes(document, "path")
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
    first, second = _int(document, "first_size"), _int(document, "second_size")
    root1, root2 = _hex(document, "first_root"), _hex(document, "second_root")
    path = _hashes(document, "path")
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
        raise _Bad(f"{name} must be a signed note or null")
    report.checkpoints += 1
    checkpoint = _checkpoint(report, note.encode("utf-8"), verifiers, name)
    if checkpoint is None:
        return False
    if (checkpoint.size, checkpoint.root_hash) != (size, root):
        report.add("checkpoint", name, f"signs tree {checkpoint.size}, not the tree {size} proved")
        return False
    report.signed = bool(verifiers)
    return report.signed


def _checkpoint(
    report: ProofReport, note: bytes, verifiers: Sequence[SignatureVerifier], where: str
) -> Checkpoint | None:
    """The checkpoint, its signature checked when there are verifiers."""
    try:
        if verifiers:
            checkpoint = open_checkpoint(note, verifiers).checkpoint
            report.signed = True
        else:
            text, _ = split_note(note)
            checkpoint = Checkpoint.from_text(text)
    except CheckpointError as e:
        report.add("signature", where, str(e))
        return None
    report.origin = report.origin or checkpoint.origin
    return checkpoint


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise _Bad(f"not JSON: {_reason(e)}") from None
    if not isinstance(value, dict):
        raise _Bad("not a JSON object")
    return value


def _field(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    if not isinstance(obj, Mapping) or name not in obj:
        raise _Bad(f"{name} is missing")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Bad(f"{name} must be a {kind.__name__}")
    return value


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = _field(obj, name, int)
    if value < 0:
        raise _Bad(f"{name} must not be negative")
    return value


def _hex(obj: Mapping[str, Any], name: str) -> bytes:
    return _unhex(_field(obj, name, str), name)


def _hashes(obj: Mapping[str, Any], name: str) -> list[bytes]:
    return [_unhex(h, f"{name}[{i}]") for i, h in enumerate(_field(obj, name, list))]


def _unhex(text: Any, name: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64:
        raise _Bad(f"{name} must be 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise _Bad(f"{name} must be 64 hex digits") from None


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
