"""One event's proof in the C2SP ``tlog-proof`` format, written and checked.

::

    c2sp.org/tlog-proof@v1
    extra <base64 of the event's line of opsledger/events.jsonl>
    index <the event's zero-based leaf index>
    <base64 RFC 6962 inclusion proof hashes, leaf's sibling first, one per line>
    <empty line>
    <the signed checkpoint, with any witness cosignatures, verbatim>

The extra data is the archived event (canonical JSON, as in the archive), so
the record hash can be rebuilt: the leaf hash is recomputed from it, never
taken on trust, and proved under the root the log's key signed. Other tools
that know only the format check the inclusion of the leaf they compute.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from opsledger.archiver.verify.proof_format import (
    Malformed,
    ProofReport,
    event_leaf_hash,
    read_checkpoint,
    reason,
)
from opsledger.domain.checkpoint import SignatureVerifier
from opsledger.domain.merkle import InvalidProofError, MerkleError, check_inclusion

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF = 1 << 20
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class TlogProof:
    index: int
    path: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None

    def to_text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode("ascii") for h in self.path]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, data: bytes | str) -> TlogProof:
        if isinstance(data, bytes):
            if len(data) > MAX_PROOF:
                raise Malformed(f"over {MAX_PROOF} bytes")
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise Malformed("not UTF-8") from None
        head, sep, checkpoint = data.partition("\n\n")
        if not sep:
            raise Malformed("no empty line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise Malformed(f"the first line is not {HEADER!r}")
        lines = lines[1:]
        extra = None
        if lines and lines[0].startswith("extra "):
            extra = _b64(lines.pop(0)[6:], "extra")
        if not lines or not lines[0].startswith("index ") or not _DECIMAL.fullmatch(lines[0][6:]):
            raise Malformed("expected 'index N' in plain decimal")
        index = int(lines[0][6:])
        path = []
        for n, line in enumerate(lines[1:], 1):
            value = _b64(line, f"inclusion proof line {n}")
            if len(value) != 32:
                raise Malformed(f"inclusion proof line {n} is not one SHA-256 hash")
            path.append(value)
        return cls(index, tuple(path), checkpoint, extra)


def check_tlog_proof(data: bytes, verifiers: Sequence[SignatureVerifier]) -> ProofReport:
    """The event in ``extra`` is leaf ``index`` of the tree the checkpoint signs."""
    report = ProofReport()
    try:
        proof = TlogProof.from_text(data)
        if proof.extra is None:
            raise Malformed("no extra line: the event the proof is for is not given")
        leaf = event_leaf_hash(json.loads(proof.extra))
    except (Malformed, ValueError) as e:
        report.add("malformed", "tlog-proof", reason(e))
        return report
    report.checkpoints = 1
    checkpoint = read_checkpoint(report, proof.checkpoint.encode("utf-8"), verifiers, "checkpoint")
    if checkpoint is None:
        return report
    report.tree_size, report.root_hash = checkpoint.size, checkpoint.root_hash.hex()
    try:
        check_inclusion(leaf, proof.index, checkpoint.size, proof.path, checkpoint.root_hash)
    except (InvalidProofError, MerkleError) as e:
        report.add("inclusion", "tlog-proof", str(e))
        return report
    report.events = 1
    return report


def _b64(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"{what} is not base64") from None
    if base64.b64encode(value).decode("ascii") != text:
        raise Malformed(f"{what} is not canonical base64")
    return value
