"""Replay the roster check from an archive alone, years later.

A sealed archive carries the ticket's events (`opsledger/events.jsonl`) and
the roster's history as it stood at the seal (`opsledger/roster.jsonl`).
Each evidence, approval and script event names the roster version that
allowed it; this stage re-checks every one against that version, with no
database: the same rule the live `roster audit` applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError
from opsledger.domain.persistence import CanonicalJSONTranscoder, PydanticMapper
from opsledger.domain.roster import Roster, RosterHistory
from opsledger.domain.ticket import AUTHORISED_EVENTS

EVENTS = "opsledger/events.jsonl"
ROSTER = "opsledger/roster.jsonl"
_CHECKED = {cls.TOPIC for cls in AUTHORISED_EVENTS}
MAX_FINDINGS = 100  # then a count


def authority_findings(tag_files: Mapping[str, bytes]) -> list[str]:
    """One line per event the archived roster did not allow; [] when all hold.

    Archives sealed before the roster existed carry neither the file nor any
    roster version, and are not judged by it.
    """
    events = tag_files.get(EVENTS)
    if events is None:
        return []
    mapper = PydanticMapper(transcoder=CanonicalJSONTranscoder())
    try:
        checked = [e for e in _decode(mapper, events) if type(e).TOPIC in _CHECKED]
        roster_file = tag_files.get(ROSTER)
        if roster_file is None:
            if any(e.roster_version is not None for e in checked):
                return [f"{ROSTER} is missing: the events' roster checks cannot be replayed"]
            return []
        roster_events = [e for e in _decode(mapper, roster_file) if isinstance(e, Roster.Event)]
    except (ValueError, KeyError, TypeError, AttributeError, TopicError, RecursionError) as exc:
        return [f"authority: the archived events cannot be read: {exc}"]
    history = RosterHistory(roster_events)
    findings = []
    for event in checked:
        problem = history.check(event.actor, event.role, event.roster_version, event.timestamp)
        if problem:
            findings.append(
                f"authority: {type(event).__name__} v{event.originator_version} by "
                f"{event.actor}: {problem}"
            )
    if len(findings) > MAX_FINDINGS:
        findings = findings[:MAX_FINDINGS] + [f"authority: {len(findings) - MAX_FINDINGS} more"]
    return findings


def _decode(mapper: PydanticMapper, jsonl: bytes) -> Iterator[object]:
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        yield mapper.to_domain_event(
            StoredEvent(
                originator_id=UUID(row["originator_id"]),
                originator_version=int(row["originator_version"]),
                topic=row["topic"],
                state=row["state"].encode("utf-8"),
            )
        )
