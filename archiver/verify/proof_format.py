"""The ledger proofs' formats, the report an auditor reads, and strict field readers.

Shared by the archive's proof check (``verify.proofs``) and the stand-alone
documents' (``verify.proof_document``): a missing or malformed field raises
``Malformed``, which its caller turns into one finding.
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
from opsledger.domain.merkle import MerkleError, leaf_bytes, leaf_hash

EVENTS = "opsledger/events.jsonl"
CHECKPOINT = "opsledger/checkpoint.txt"
PROOFS = "opsledger/proofs.json"
ROSTER = "opsledger/roster.jsonl"
VERIFIER_KEY = "opsledger/verifier-key.txt"
ARCHIVE_FORMAT = "opsledger-proofs/1"
INCLUSION_FORMAT = "opsledger-inclusion-proof/1"
CONSISTENCY_FORMAT = "opsledger-consistency-proof/1"
MAX_FINDINGS_OF_A_KIND = 100


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
    counts: dict[str, int] = field(default_factory=dict)  # findings per kind, listed or not
    _more: dict[str, int] = field(default_factory=dict, repr=False)  # where each count line is

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, path: str | None, message: str) -> None:
        """Lists MAX_FINDINGS_OF_A_KIND of each kind, then one line counting the rest."""
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if n <= MAX_FINDINGS_OF_A_KIND:
            self.findings.append(ProofFinding(kind, path, message))
            return
        more = ProofFinding(kind, None, f"{n - MAX_FINDINGS_OF_A_KIND} more not listed")
        if n == MAX_FINDINGS_OF_A_KIND + 1:
            self._more[kind] = len(self.findings)
            self.findings.append(more)
        else:
            self.findings[self._more[kind]] = more


class Malformed(Exception):
    """A field is missing or malformed; becomes one finding."""


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """The RFC 9162 leaf hash of one event object (see the module docstring)."""
    if not isinstance(event, Mapping):
        raise Malformed("an event must be a JSON object")
    if "state_base64" in event:
        try:
            state = base64.b64decode(field_of(event, "state_base64", str), validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("state_base64 is not base64") from None
    else:
        state = field_of(event, "state", str).encode("utf-8")
    try:
        return leaf_hash(
            leaf_bytes(
                int_of(event, "position"),
                field_of(event, "originator_id", str),
                int_of(event, "originator_version"),
                field_of(event, "topic", str),
                state,
            )
        )
    except MerkleError as e:
        raise Malformed(str(e)) from None


def read_checkpoint(
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


def json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise Malformed(f"not JSON: {reason(e)}") from None
    if not isinstance(value, dict):
        raise Malformed("not a JSON object")
    return value


def field_of(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    if not isinstance(obj, Mapping) or name not in obj:
        raise Malformed(f"{name} is missing")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Malformed(f"{name} must be a {kind.__name__}")
    return value


def int_of(obj: Mapping[str, Any], name: str) -> int:
    value = field_of(obj, name, int)
    if value < 0:
        raise Malformed(f"{name} must not be negative")
    return value


def hex_of(obj: Mapping[str, Any], name: str) -> bytes:
    return unhex(field_of(obj, name, str), name)


def hashes_of(obj: Mapping[str, Any], name: str) -> list[bytes]:
    return [unhex(h, f"{name}[{i}]") for i, h in enumerate(field_of(obj, name, list))]


def unhex(text: Any, name: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64:
        raise Malformed(f"{name} must be 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise Malformed(f"{name} must be 64 hex digits") from None


def reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
