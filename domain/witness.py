"""The C2SP ``tlog-witness`` protocol's ``add-checkpoint`` call, as values.

Request body (every line ending in U+000A)::

    old <size of the checkpoint the client believes the witness has, decimal>
    <zero to 63 base64 consistency proof hashes, one per line>
    <empty line>
    <the signed checkpoint>

The witness's decision, in the order the spec gives: an unknown origin is
404; no signature by a key trusted for that origin is 403; an old size above
the checkpoint's is 400; an old size other than the size the witness last
cosigned is 409 with that size as the body (``text/x.tlog.size``); a
consistency proof that does not verify is 422; the same size with another
root is 409 (a fork); otherwise 200 and the witness's cosignature lines.

`decide` is pure: the caller holds the lock, reads the stored checkpoint,
and, on `Accepted`, cosigns and persists before answering.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from opsledger.domain.checkpoint import (
    Checkpoint,
    CheckpointError,
    SignatureVerifier,
    open_checkpoint,
    split_note,
)
from opsledger.domain.merkle import EMPTY_ROOT, InvalidProofError, MerkleError, check_consistency

MAX_PROOF_LINES = 63
MAX_BODY = 64 << 10
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT = "text/plain; charset=utf-8"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


class MalformedRequest(ValueError):
    """The body is not an add-checkpoint request (400)."""


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the signed checkpoint, as sent

    def to_body(self) -> bytes:
        lines = [f"old {self.old_size}\n"]
        lines += [base64.b64encode(h).decode("ascii") + "\n" for h in self.proof]
        return ("".join(lines) + "\n" + self.note).encode("utf-8")


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str
    body: bytes = b""
    content_type: str = TEXT

    def __post_init__(self) -> None:
        if not self.body:
            object.__setattr__(self, "body", (self.reason + "\n").encode("utf-8"))


@dataclass(frozen=True)
class Accepted:
    checkpoint: Checkpoint
    note_text: str  # what the cosignature covers


@dataclass(frozen=True)
class Latest:
    """What the witness keeps per log: the latest checkpoint it cosigned."""

    size: int
    root_hash: bytes


def parse_request(body: bytes) -> AddCheckpoint:
    """The request, syntax only; `MalformedRequest` when it is not one."""
    if len(body) > MAX_BODY:
        raise MalformedRequest(f"the body is over {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise MalformedRequest("no empty line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not _DECIMAL.fullmatch(first[4:]):
        raise MalformedRequest("the first line must be 'old <size>' in plain decimal")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise MalformedRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for n, line in enumerate(lines[1:], 1):
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            value = b""
        if len(value) != 32 or base64.b64encode(value).decode("ascii") != line:
            raise MalformedRequest(f"proof line {n} is not one base64 SHA-256 hash")
        proof.append(value)
    return AddCheckpoint(int(first[4:]), tuple(proof), note)


def decide(
    request: AddCheckpoint,
    logs: dict[str, Sequence[SignatureVerifier]],
    latest: dict[str, Latest],
) -> Accepted | Refused:
    """The witness's answer to ``request``: `logs` maps each known origin to the
    keys trusted for it, `latest` each origin to what was last cosigned."""
    try:
        text, _ = split_note(request.note)
        origin = Checkpoint.from_text(text).origin
    except CheckpointError as e:
        return Refused(400, f"not a signed checkpoint: {e}")
    verifiers = logs.get(origin)
    if verifiers is None:
        return Refused(404, f"unknown log {origin!r}")
    try:
        checkpoint = open_checkpoint(request.note, verifiers, origin=origin).checkpoint
    except CheckpointError as e:
        return Refused(403, f"no valid signature by a key trusted for {origin!r}: {e}")
    if request.old_size > checkpoint.size:
        return Refused(400, f"old size {request.old_size} is above the checkpoint's {checkpoint.size}")
    known = latest.get(origin, Latest(0, EMPTY_ROOT))
    if request.old_size != known.size:
        return Refused(409, f"the latest cosigned size is {known.size}",
                       f"{known.size}\n".encode("ascii"), SIZE_CONTENT_TYPE)
    if known.size == checkpoint.size and known.root_hash != checkpoint.root_hash:
        return Refused(409, f"tree {known.size} was cosigned with another root: a fork")
    try:
        check_consistency(known.size, checkpoint.size, request.proof,
                          known.root_hash, checkpoint.root_hash)
    except (InvalidProofError, MerkleError) as e:
        return Refused(422, f"not consistent with the cosigned tree {known.size}: {e}")
    return Accepted(checkpoint, text)


def parse_size(body: bytes) -> int | None:
    """The size a 409 ``text/x.tlog.size`` answer gives, or None."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\n") or not _DECIMAL.fullmatch(text[:-1]):
        return None
    return int(text[:-1])
