"""Asking the configured witnesses (OPSLEDGER_WITNESSES) to cosign a checkpoint.

For each witness, C2SP tlog-witness `add-checkpoint`: the request names the
old size the witness is believed to hold (a hint: the seal before), with the
ledger's consistency proof from it; a 409 `text/x.tlog.size` answer gives
the size the witness really holds, and the request is made once more from
there. A 200 answer's cosignature lines are checked against the witness's
configured key before they are added to the checkpoint; others are ignored.

A witness that refuses, is unreachable or answers nonsense is one warning:
the seal completes, and says how many cosigned. A witness that has already
cosigned a larger tree than this checkpoint cannot cosign it (a seal's tree
ends at its ticket's last event, so an overlapping, later session's seal can
be ahead): that too is a warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opsledger.adapters.signing_keys import Ed25519Verifier, SigningKeyError
from opsledger.adapters.witness_http import WitnessClient, WitnessUnreachable
from opsledger.domain.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSignature,
    SignatureVerifier,
    split_note,
)
from opsledger.domain.cosignature import add_signatures
from opsledger.domain.witness import SIZE_CONTENT_TYPE, AddCheckpoint, parse_size
from opsledger.services.errors import InvalidRequest
from opsledger.services.witness import split_key_assignment

if TYPE_CHECKING:
    from opsledger.projections.ledger_log import Ledger
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]
TIMEOUT = 5.0


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class WitnessOutcome:
    url: str
    witness: str  # its key name
    cosigned: bool
    detail: str


@dataclass(frozen=True)
class Cosigning:
    note: str  # the checkpoint with every valid cosignature added
    outcomes: tuple[WitnessOutcome, ...]
    milliseconds: float

    @property
    def cosigned(self) -> int:
        return sum(o.cosigned for o in self.outcomes)

    @property
    def summary(self) -> str:
        names = ", ".join(o.witness for o in self.outcomes if o.cosigned)
        return f"{self.cosigned} of {len(self.outcomes)} cosigned" + (f" ({names})" if names else "")


def configured_witnesses(services: Services) -> list[tuple[str, SignatureVerifier]]:
    """(URL, cosignature verifier) of each OPSLEDGER_WITNESSES item."""
    found = []
    for item in services.settings.witnesses:
        url, vkey = split_key_assignment(item, "OPSLEDGER_WITNESSES")
        try:
            found.append((url, Ed25519Verifier.from_witness_key(vkey)))
        except SigningKeyError as e:
            raise InvalidRequest(f"OPSLEDGER_WITNESSES {url}: {e}") from None
    return found


def request_cosignatures(
    services: Services,
    ledger: Ledger,
    note: str,
    *,
    hint: int = 0,
    notify: Notify = _silent,
    witnesses: Sequence[tuple[str, SignatureVerifier]] | None = None,
) -> Cosigning:
    """`note` (a checkpoint the ledger holds) cosigned by every configured witness
    that agrees; a warning through `notify` for each that does not."""
    started = time.perf_counter()
    witnesses = configured_witnesses(services) if witnesses is None else witnesses
    text, _ = split_note(note)
    checkpoint = Checkpoint.from_text(text)
    outcomes, lines = [], []
    for url, verifier in witnesses:
        outcome, got = _ask(ledger, url, verifier, note, text, checkpoint, hint)
        outcomes.append(outcome)
        lines += got
        if not outcome.cosigned:
            notify(f"opsledger: warning: witness {outcome.witness} ({url}) did not cosign tree "
                   f"{checkpoint.size}: {outcome.detail}")
    cosigned = add_signatures(note, lines) if lines else note
    return Cosigning(cosigned, tuple(outcomes), (time.perf_counter() - started) * 1000)


def _ask(
    ledger: Ledger,
    url: str,
    verifier: SignatureVerifier,
    note: str,
    text: str,
    checkpoint: Checkpoint,
    hint: int,
) -> tuple[WitnessOutcome, list[NoteSignature]]:
    def outcome(cosigned: bool, detail: str) -> WitnessOutcome:
        return WitnessOutcome(url, verifier.name, cosigned, detail)

    old = hint if 0 <= hint <= checkpoint.size else 0
    try:
        client = WitnessClient(url, TIMEOUT)
    except WitnessUnreachable as e:
        return outcome(False, f"unreachable: {e}"), []
    try:
        for attempt in (1, 2):
            proof = ledger.consistency(old, checkpoint.size)[2] if old else ()
            try:
                status, content_type, body = client.add_checkpoint(
                    AddCheckpoint(old, tuple(proof), note).to_body())
            except WitnessUnreachable as e:
                return outcome(False, f"unreachable: {e}"), []
            if status == 200:
                return _cosignatures(body, verifier, text, outcome)
            held = parse_size(body) if content_type == SIZE_CONTENT_TYPE else None
            if status == 409 and held is not None and attempt == 1:
                if held > checkpoint.size:
                    return outcome(False, f"it has cosigned tree {held}, larger than this "
                                          "checkpoint's; a witness never cosigns an older tree"), []
                old = held
                continue
            return outcome(False, f"refused with {status}: {_first_line(body)}"), []
        return outcome(False, "no agreement on the old size"), []
    finally:
        client.close()


def _cosignatures(body: bytes, verifier: SignatureVerifier, text: str,
                  outcome: Callable[[bool, str], WitnessOutcome]) -> tuple[WitnessOutcome, list]:
    try:
        answer = body.decode("utf-8")
        if not answer.endswith("\n"):
            raise CheckpointError("cosignature", "the answer does not end in a newline")
        signatures = [NoteSignature.from_line(line) for line in answer[:-1].split("\n")]
    except (UnicodeDecodeError, CheckpointError) as e:
        return outcome(False, f"answered 200 with no cosignature lines ({e})"), []
    payload = text.encode("utf-8")
    mine = [s for s in signatures if (s.name, s.key_hash) == (verifier.name, verifier.key_hash)]
    valid = [s for s in mine if verifier.verify(payload, s.signature)]
    if not valid:
        why = "its cosignature does not verify" if mine else "no cosignature by its configured key"
        return outcome(False, f"answered 200, but {why}"), []
    return outcome(True, "cosigned"), valid


def _first_line(body: bytes) -> str:
    line = body.decode("utf-8", "replace").strip().split("\n", 1)[0]
    return line[:200] or "(no reason given)"
