"""Asking the configured witnesses (OPSLEDGER_WITNESSES) to cosign a checkpoint.

For each witness, C2SP tlog-witness `add-checkpoint`: the request names the
old size the witness is believed to hold (a hint: the seal before), with the
ledger's consistency proof from it; a 409 `text/x.tlog.size` answer gives
the size the witness really holds, and the request is made once more from
there. All witnesses are asked at once: a seal waits for the slowest, not
for the sum. A 200 answer's cosignature lines are checked against the witness's
configured key before they are added to the checkpoint; others are ignored.

A witness that refuses, is unreachable or answers nonsense is one warning:
the seal completes, and says how many cosigned. A witness that has already
cosigned a larger tree than this checkpoint cannot cosign it (a seal's tree
ends at its ticket's last event, so an overlapping, later session's seal can
be ahead): that too is a warning.

A rerun of a seal reuses the cosignatures already obtained for the same
checkpoint (`already`: the checkpoint published at its size, with the same
text and the log's same signature): a witness cosigns a checkpoint once, and
its cosignature stays true ("as of that time, the largest tree I saw"), so
asking again would only change a timestamp, and the archive's bytes with it,
or be refused by a witness that has since cosigned a larger tree. Only the
witnesses without a valid cosignature there are asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    already: bytes | None = None,
) -> Cosigning:
    """`note` (a checkpoint the ledger holds) cosigned by every configured witness
    that agrees; a warning through `notify` for each that does not. The witnesses
    are asked at the same time (HTTP in threads; proofs read from the ledger here)."""
    started = time.perf_counter()
    witnesses = configured_witnesses(services) if witnesses is None else witnesses
    text, _ = split_note(note)
    checkpoint = Checkpoint.from_text(text)
    size = checkpoint.size
    old = hint if 0 <= hint <= size else 0
    base, reused = _reusable(already, note, text, witnesses)
    asks = [_Ask(url, verifier) for url, verifier in witnesses
            if (verifier.name, verifier.key_hash) not in reused]
    proofs = {old: _proof(ledger, old, size) if asks else ()}
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(asks)))) as pool:
        list(pool.map(lambda a: a.post(old, proofs[old], note), asks))
        again = []
        for ask in asks:  # a 409 with the size the witness holds: once more, from there
            if ask.held is not None and ask.held <= size:
                if ask.held not in proofs:
                    proofs[ask.held] = _proof(ledger, ask.held, size)
                again.append(ask)
            elif ask.held is not None:
                ask.outcome = (False, f"it has cosigned tree {ask.held}, larger than this "
                                      "checkpoint's; a witness never cosigns an older tree")
        list(pool.map(lambda a: a.post(a.held, proofs[a.held], note, last=True), again))
    outcomes, lines = [], []
    asked = iter(asks)
    for url, verifier in witnesses:  # outcomes in the configured order, reused or asked
        if (verifier.name, verifier.key_hash) in reused:
            outcomes.append(WitnessOutcome(url, verifier.name, True, "cosigned before (reused)"))
            continue
        ask = next(asked)
        ask.close()
        cosigned, detail = ask.outcome or (False, "no agreement on the old size")
        if ask.answer is not None:
            cosigned, detail, valid = _cosignatures(ask.answer, ask.verifier, text)
            lines += valid
        outcomes.append(WitnessOutcome(ask.url, ask.verifier.name, cosigned, detail))
        if not cosigned:
            notify(f"opsledger: warning: witness {ask.verifier.name} ({ask.url}) did not cosign "
                   f"tree {size}: {detail}")
    cosigned_note = add_signatures(base, lines) if lines else base
    return Cosigning(cosigned_note, tuple(outcomes), (time.perf_counter() - started) * 1000)


def _reusable(already: bytes | None, note: str, text: str,
              witnesses: Sequence[tuple[str, SignatureVerifier]]) -> tuple[str, set[tuple[str, int]]]:
    """(the note to add cosignatures to, the witnesses whose valid cosignature it
    carries): `already` when it is this checkpoint with the log's same signature."""
    if already is None:
        return note, set()
    try:
        published = already.decode("utf-8")
        published_text, signatures = split_note(published)
        _, own = split_note(note)
    except (UnicodeDecodeError, CheckpointError):
        return note, set()
    if published_text != text or not set(own) <= set(signatures):
        return note, set()
    payload = text.encode("utf-8")
    reused = {(v.name, v.key_hash) for _, v in witnesses
              if any((s.name, s.key_hash) == (v.name, v.key_hash) and v.verify(payload, s.signature)
                     for s in signatures)}
    return (published, reused) if reused else (note, set())


def _proof(ledger: Ledger, old: int, size: int) -> tuple[bytes, ...]:
    return tuple(ledger.consistency(old, size)[2]) if old else ()


class _Ask:
    """One witness's add-checkpoint exchange (at most two requests)."""

    def __init__(self, url: str, verifier: SignatureVerifier) -> None:
        self.url, self.verifier = url, verifier
        self.held: int | None = None  # the size a 409 said the witness holds
        self.answer: bytes | None = None  # a 200's body
        self.outcome: tuple[bool, str] | None = None
        try:
            self.client: WitnessClient | None = WitnessClient(url, TIMEOUT)
        except WitnessUnreachable as e:
            self.client, self.outcome = None, (False, f"unreachable: {e}")

    def post(self, old: int, proof: tuple[bytes, ...], note: str, *, last: bool = False) -> None:
        self.held = None
        if self.client is None:
            return
        try:
            status, content_type, body = self.client.add_checkpoint(
                AddCheckpoint(old, proof, note).to_body())
        except WitnessUnreachable as e:
            self.outcome = (False, f"unreachable: {e}")
            return
        if status == 200:
            self.answer = body
            return
        held = parse_size(body) if content_type == SIZE_CONTENT_TYPE else None
        if status == 409 and held is not None and not last:
            self.held = held
            return
        self.outcome = (False, f"refused with {status}: {_first_line(body)}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def _cosignatures(body: bytes, verifier: SignatureVerifier,
                  text: str) -> tuple[bool, str, list[NoteSignature]]:
    try:
        answer = body.decode("utf-8")
        if not answer.endswith("\n"):
            raise CheckpointError("cosignature", "the answer does not end in a newline")
        signatures = [NoteSignature.from_line(line) for line in answer[:-1].split("\n")]
    except (UnicodeDecodeError, CheckpointError) as e:
        return False, f"answered 200 with no cosignature lines ({e})", []
    payload = text.encode("utf-8")
    mine = [s for s in signatures if (s.name, s.key_hash) == (verifier.name, verifier.key_hash)]
    valid = [s for s in mine if verifier.verify(payload, s.signature)]
    if not valid:
        why = "its cosignature does not verify" if mine else "no cosignature by its configured key"
        return False, f"answered 200, but {why}", []
    return True, "cosigned", valid


def _first_line(body: bytes) -> str:
    line = body.decode("utf-8", "replace").strip().split("\n", 1)[0]
    return line[:200] or "(no reason given)"
