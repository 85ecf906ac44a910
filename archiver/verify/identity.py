"""Replay who signed what, from an archive alone, years later.

Every event recorded through a person's command carries the SSH signature of
that command's intent (domain.signing). This stage checks each one with
nothing but the archive and a signature verifier: the signature is valid
over the exact signed bytes; the key was the signer's in the archived roster
at the time signed; the intent names this ticket (or the roster) and the
position the event sits at, so a signature lifted onto another record or
position fails; and what the intent says (its arguments) is what the event
recorded. Each failure names the event's log position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError
from opsledger.domain.errors import DomainError
from opsledger.domain.model import derive_id
from opsledger.domain.persistence import CanonicalJSONTranscoder, PydanticMapper
from opsledger.domain.roster import Roster
from opsledger.domain.signing import NAMESPACE, Intent
from opsledger.domain.sshsig import SshSignatureVerifier

EVENTS = "opsledger/events.jsonl"
ROSTER = "opsledger/roster.jsonl"
UNSIGNED = "unsigned (recorded before signing)"
MAX_FINDINGS_OF_A_KIND = 50


def identity_findings(tag_files: Mapping[str, bytes], verifier: SshSignatureVerifier) -> list[str]:
    """One line per archived event whose signature does not replay; [] when all hold."""
    events_file = tag_files.get(EVENTS)
    if events_file is None:
        return []
    mapper = PydanticMapper(transcoder=CanonicalJSONTranscoder())
    try:
        events = list(decode_rows(mapper, events_file))
        roster_rows = list(decode_rows(mapper, tag_files.get(ROSTER, b"")))
    except (ValueError, KeyError, TypeError, AttributeError, TopicError, RecursionError) as exc:
        return [f"identity: the archived events cannot be read: {exc}"]
    return replay_identity(roster_rows + events, verifier)


def replay_identity(rows: list[tuple[str, dict, Any]], verifier: SshSignatureVerifier,
                    *, unsigned_is_finding: bool = True) -> list[str]:
    """The same replay over decoded events (where, stored state, event), roster
    events among them: an archive's, or a whole live store's (`roster audit`).
    After MAX_FINDINGS_OF_A_KIND findings of one kind, a count."""
    roster: Roster | None = None
    for _, _, event in rows:
        if isinstance(event, Roster.Event):
            roster = event.mutate(roster)
    findings: list[str] = []
    counts: dict[str, int] = {}
    for where, state, event, previous in _with_previous(rows):
        problem = _check(event, state, previous, roster, verifier)
        if not problem or (problem == UNSIGNED and not unsigned_is_finding):
            continue
        kind = problem.split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= MAX_FINDINGS_OF_A_KIND:
            findings.append(f"identity: {where} {type(event).__name__} "
                            f"v{event.originator_version}: {problem}")
    for kind, n in counts.items():
        if n > MAX_FINDINGS_OF_A_KIND:
            findings.append(f"identity: {n - MAX_FINDINGS_OF_A_KIND} more of '{kind}' not listed")
    return findings


def _check(event: Any, state: dict[str, Any], previous: Any, roster: Roster | None,
           verifier: SshSignatureVerifier) -> str:
    signature = getattr(event, "signature", None)
    if signature is None:
        return UNSIGNED
    try:
        payload = signature.signed_bytes()
        intent = Intent.from_bytes(payload)
        verified = verifier.verify(signature.signature, payload, NAMESPACE)
    except (DomainError, ValueError) as e:
        return f"bad signature: {e}"
    if verified.fingerprint != signature.key:
        return f"bad signature: made by {verified.fingerprint}, the event says {signature.key}"
    if intent.signer != signature.signer or getattr(event, "actor", intent.signer) != intent.signer:
        return f"wrong signer: the intent is {intent.signer}'s, the event names " \
               f"{getattr(event, 'actor', signature.signer)}"
    if intent.action == "found_roster":
        if json.loads(json.dumps(state.get("public_key"))) != intent.args.get("public_key"):
            return "wrong key: the founding was not signed with the founder's key"
    elif roster is None:
        return "unknown key: the archive carries no roster to check the key against"
    else:
        try:
            roster.authenticate(intent.signer, verified.public_key, intent.at)
        except DomainError as e:
            return f"unknown key: {e.message}"
    kind, key = intent.kind_and_key()
    if derive_id(kind, key) != event.originator_id:
        return f"wrong target: signed for {intent.target}"
    same_command = previous is not None and getattr(previous, "signature", None) == signature
    expected = event.originator_version - 1 if not same_command else intent.version
    if intent.version != expected or (
        same_command and previous.originator_version != event.originator_version - 1
    ):
        return (f"wrong position: signed for the record at version {intent.version}, "
                f"found at version {event.originator_version - 1}")
    for name, value in intent.args.items():
        if value is not None and name in state and state[name] != value and name != "key":
            return f"altered: the signed {name} differs from the recorded one"
    return ""


def _with_previous(rows: list[tuple[str, dict, Any]]) -> Iterator[tuple[str, dict, Any, Any]]:
    last: dict[UUID, Any] = {}
    for where, state, event in rows:
        yield where, state, event, last.get(event.originator_id)
        last[event.originator_id] = event


def decode_rows(mapper: PydanticMapper, jsonl: bytes) -> Iterator[tuple[str, dict, Any]]:
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        state = json.loads(row["state"])
        event = mapper.to_domain_event(
            StoredEvent(
                originator_id=UUID(row["originator_id"]),
                originator_version=int(row["originator_version"]),
                topic=row["topic"],
                state=row["state"].encode("utf-8"),
            )
        )
        where = f"position {row['position']}" if "position" in row else "roster"
        yield where, state, event
