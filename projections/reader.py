"""Questions asked of the views, answered as plain values (dicts of JSON types).

The reader never catches up by itself: callers refresh the views first (the
CLI does, before every read command), so one answer reads one position.
Time travel replays the ticket's own events up to the asked moment through
the same `fold` the view uses, in memory; it reads the timeline view only to
learn which of the ticket's events had happened by then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.domain.flag_rules import FLAG_NAME
from opsledger.domain.runbook import Severity
from opsledger.domain.ticket import TICKET_KEY, ticket_id
from opsledger.projections import encoding, flags, incidents, tickets, timeline
from opsledger.projections.catalog import all_views
from opsledger.projections.errors import InvalidQuery, NotInView
from opsledger.projections.facts import EventLog, iso, micros_of
from opsledger.projections.store import ViewStore
from opsledger.projections.view import View

_VIEWS: dict[str, View] = {v.name: v for v in all_views()}
TICKETS = _VIEWS["tickets"].table(tickets.TABLE)
TIMELINE = _VIEWS["timeline"].table(timeline.TABLE)
INCIDENTS = _VIEWS["incidents"].table(incidents.TABLE)
INCIDENT_ENDS = _VIEWS["incidents"].table(incidents.ENDS)
FLAG_CHANGES = _VIEWS["flags"].table(flags.TABLE)


def ticket_subject(key: str) -> str:
    if not isinstance(key, str) or not TICKET_KEY.fullmatch(key):
        raise InvalidQuery(f"{key!r} is not a ticket key (e.g. CHG-2041)")
    return str(ticket_id(key))


@dataclass(frozen=True)
class IncidentQuery:
    """Filters of `opsledger incidents`; times bound the breach start, `until` excluded."""

    metric: str | None = None
    strategy: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ticket: str | None = None
    limit: int | None = None

    def where(self) -> list[tuple[str, str, Any]]:
        where: list[tuple[str, str, Any]] = []
        if self.severity is not None and self.severity not in {s.value for s in Severity}:
            choices = ", ".join(s.value for s in Severity)
            raise InvalidQuery(f"severity {self.severity!r} is not one of {choices}")
        if self.since and self.until and self.since >= self.until:
            raise InvalidQuery("--since must be before --until")
        if self.limit is not None and self.limit < 1:
            raise InvalidQuery("--limit must be at least 1")
        for column, value in (
            ("metric", self.metric),
            ("strategy", self.strategy),
            ("severity", self.severity),
        ):
            if value is not None:
                where.append((column, "=", value))
        if self.ticket is not None:
            where.append(("ticket_id", "=", ticket_subject(self.ticket)))
        if self.since is not None:
            where.append(("window_start", ">=", micros_of(self.since)))
        if self.until is not None:
            where.append(("window_start", "<", micros_of(self.until)))
        return where


def _record(table_columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(table_columns, row, strict=True))


_INCIDENT_COLUMNS = INCIDENTS.column_names


def incident_record(
    row: tuple[Any, ...], ends: Mapping[str, tuple[Any, ...]] | None = None
) -> dict[str, Any]:
    """One breach; `ends` (incident key -> row of the ends table) supplies the end
    recorded by a later event for a breach recorded still going on."""
    r = dict(zip(_INCIDENT_COLUMNS, row, strict=True))
    r["labels"] = encoding.loads(r["labels"])
    ended = (ends or {}).get(incidents.incident_key(r["ticket_id"], r["breach_id"]))
    r["end_recorded_at"] = None
    if ended is not None:
        end = dict(zip(INCIDENT_ENDS.column_names, ended, strict=True))
        r["window_end"], r["end_recorded_at"] = end["window_end"], iso(end["recorded_at"])
        r["duration_s"] = (end["window_end"] - r["window_start"]) / 1e6
    start, end, recorded = r["window_start"], r["window_end"], r["recorded_at"]
    # Detection: when the breach entered the record. Only meaningful while it was
    # still going on; a breach imported after it ended was not "detected" then.
    ongoing = end is None or recorded <= end
    r["time_to_detect_s"] = (recorded - start) / 1e6 if ongoing and recorded >= start else None
    r["time_to_resolve_s"] = r["duration_s"]
    r["window_start"], r["window_end"], r["recorded_at"] = iso(start), iso(end), iso(recorded)
    return r


class ViewReader:
    def __init__(self, store: ViewStore, log: EventLog) -> None:
        self.store = store
        self.log = log

    def ticket(self, key: str) -> dict[str, Any]:
        rows = self.store.select(TICKETS, [("ticket_id", "=", ticket_subject(key))])
        if not rows:
            raise NotInView(f"{key}: no such ticket")
        return encoding.loads(rows[0][-1])

    def tickets(
        self, *, status: str | None = None, strategy: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        where = [(c, "=", v) for c, v in (("status", status), ("strategy", strategy)) if v]
        order = ("strategy", "opened_at") if strategy else ("opened_at", "ticket")
        if status and not strategy:
            order = ("status", "opened_at")
        rows = self.store.select(TICKETS, where, order_by=order, limit=limit)
        columns = TICKETS.column_names[:-1]
        result = []
        for row in rows:
            r = _record(columns, row[:-1])
            r.pop("ticket_id")
            r["closed"] = bool(r["closed"])
            r["opened_at"], r["updated_at"] = iso(r["opened_at"]), iso(r["updated_at"])
            result.append(r)
        return result

    def timeline(self, key: str) -> list[dict[str, Any]]:
        subject = ticket_subject(key)
        rows = self.store.select(TIMELINE, [("subject_id", "=", subject)], order_by=("subject_id", "position"))
        if not rows:
            raise NotInView(f"{key}: no such ticket")
        result = []
        for row in rows:
            r = _record(TIMELINE.column_names, row)
            r["own"] = r.pop("originator_id") == r.pop("subject_id")
            r["at"] = iso(r["at"])
            result.append(r)
        return result

    def incidents(self, query: IncidentQuery) -> list[dict[str, Any]]:
        rows = self.store.select(
            INCIDENTS, query.where(), order_by=("window_start", "position"), limit=query.limit
        )
        where = [("ticket_id", "=", ticket_subject(query.ticket))] if query.ticket else []
        ends = {row[0]: row for row in self.store.select(INCIDENT_ENDS, where)}
        return [incident_record(row, ends) for row in rows]

    def flag_history(self, name: str) -> list[dict[str, Any]]:
        if not isinstance(name, str) or not FLAG_NAME.fullmatch(name):
            raise InvalidQuery(f"{name!r} is not a flag name (lowercase, e.g. live.enabled)")
        rows = self.store.select(FLAG_CHANGES, [("flag", "=", name)], order_by=("flag", "position"))
        result = []
        for row in rows:
            r = _record(FLAG_CHANGES.column_names, row)
            r["at"] = iso(r["at"])
            result.append(r)
        return result

    def ticket_as_of(
        self, key: str, *, position: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """The ticket exactly as it stood at log position `position` or time `at`."""
        if (position is None) == (at is None):
            raise InvalidQuery("give exactly one of a position or a time")
        subject = ticket_subject(key)
        where: list[tuple[str, str, Any]] = [("subject_id", "=", subject)]
        if position is not None:
            if position < 1:
                raise InvalidQuery("a log position starts at 1")
            where.append(("position", "<=", position))
        else:
            assert at is not None
            where.append(("at", "<=", micros_of(at)))
        rows = self.store.select(TIMELINE, where, order_by=("subject_id", "position"))
        at_column = TIMELINE.column_names.index
        versions = {
            row[at_column("version")]: row[at_column("position")]
            for row in rows
            if row[at_column("originator_id")] == subject
        }
        when = f"position {position}" if position is not None else iso(micros_of(at))  # type: ignore[arg-type]
        if not versions:
            raise NotInView(f"{key}: no such ticket at {when}")
        state = None
        for fact in self.log.aggregate_facts(subject, versions):
            state = tickets.fold(state, fact)
        if state is None:
            raise NotInView(f"{key}: no such ticket at {when}")
        doc = tickets.document(state)
        doc["as_of"] = {
            "position": position,
            "time": None if at is None else iso(micros_of(at)),
        }
        return doc
