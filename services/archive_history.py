"""What an archive carries of the log: the ticket's events and the roster's,
each as its exact stored text with its global log position, so that the
archive alone can re-hash them (the ledger's proofs) and decode them (the
authority and signature replay)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsledger.domain.model import DomainEvent
from opsledger.domain.persistence import canonical_json
from opsledger.domain.roster import Roster, roster_id
from opsledger.domain.ticket import ticket_id
from opsledger.services.errors import Incomplete
from opsledger.services.views import fresh_reader

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def events_jsonl(services: Services, key: str) -> tuple[bytes, int, int]:
    """The ticket's history, one canonical JSON line per event with its global
    position; the state is the exact stored text, so leaf hashes can be
    recomputed from the archive alone. Returns (bytes, count, last position).

    Positions come from the timeline view and the bytes from the ticket's own
    stored events: two indexed reads, however long the whole log is."""
    positions = {
        row["version"]: row["position"]
        for row in fresh_reader(services, ["timeline"]).timeline(key)
        if row["own"]
    }
    lines = []
    for stored in services.app.recorder.select_events(ticket_id(key)):
        position = positions.get(stored.originator_version)
        if position is None:  # the view was caught up just now: this cannot lag
            raise Incomplete(f"{key}: event v{stored.originator_version} is not in the timeline "
                             "view; run 'opsledger projections rebuild timeline'")
        lines.append(stored_line(stored, position=position))
    return b"".join(lines), len(lines), max(positions.values(), default=0)


def stored_line(stored, **extra: Any) -> bytes:
    """One stored event as a canonical JSON line: its exact stored text, so the
    archive alone can re-hash it (proofs) and decode it (authority replay)."""
    return canonical_json(
        {
            **extra,
            "originator_id": str(stored.originator_id),
            "originator_version": stored.originator_version,
            "topic": stored.topic,
            "state": stored.state.decode("utf-8"),
        }
    ) + b"\n"


def roster_topics() -> list[str]:
    """The stored topics of every roster event."""
    return sorted({topic for v in vars(Roster).values()
                   if isinstance(v, type) and issubclass(v, DomainEvent)
                   and (topic := getattr(v, "TOPIC", None))})


def roster_jsonl(services: Services) -> bytes:
    """The roster's history as stored at the seal, each event with its log
    position: the ledger proves these too, so the keys and roles an auditor
    replays offline (archiver.verify.authority, .identity) are the log's own."""
    app = services.ledger_app
    roster = roster_id()
    positions = {
        n.originator_version: n.id
        for n in app.notifications(topics=roster_topics())
        if n.originator_id == roster
    }
    return b"".join(stored_line(s, position=positions[s.originator_version])
                    for s in app.recorder.select_events(roster))
