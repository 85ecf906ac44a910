"""The incidents view: every SLA breach across tickets, ready to filter.

Times are integer microseconds; the indexes lead with the filtered column
and end with the breach start, so "metric X between A and B" is one range
scan. A small side table remembers each ticket's key and strategy, so the
view needs nothing but its own tables. A breach recorded still going on gets
its end from a later `SlaBreachResolved`, kept in a table of ends beside the
breaches (rows are never rewritten; the reader joins the two).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from opsledger.projections import encoding
from opsledger.projections.facts import Fact, micros
from opsledger.projections.schema import Column, Table
from opsledger.projections.view import Rows, View

OPENED = "opsledger.ticket.Opened"
BREACH = "opsledger.ticket.SlaBreachRecorded"
RESOLVED = "opsledger.ticket.SlaBreachResolved"
TABLE = "view_incidents"
TICKETS = "view_incident_tickets"
ENDS = "view_incident_ends"

COLUMNS = (
    Column("position", "int", nullable=False),
    Column("ticket_id", "text", nullable=False),
    Column("ticket", "text"),
    Column("strategy", "text"),
    Column("breach_id", "text", nullable=False),
    Column("rule", "text"),
    Column("metric", "text", nullable=False),
    Column("labels", "text", nullable=False),
    Column("threshold", "real"),
    Column("unit", "text"),
    Column("comparison", "text"),
    Column("observed", "real"),
    Column("window_start", "int", nullable=False),
    Column("window_end", "int"),
    Column("duration_s", "real"),
    Column("samples", "int"),
    Column("severity", "text", nullable=False),
    Column("escalation", "text"),
    Column("source", "text"),
    Column("detail", "text"),
    Column("incident_ref", "text"),
    Column("recorded_at", "int", nullable=False),
    Column("actor", "text"),
)
END_COLUMNS = (
    Column("incident", "text", nullable=False),  # ticket id / breach id
    Column("ticket_id", "text", nullable=False),
    Column("breach_id", "text", nullable=False),
    Column("window_end", "int", nullable=False),
    Column("position", "int", nullable=False),
    Column("recorded_at", "int", nullable=False),
    Column("actor", "text"),
)
TICKET_COLUMNS = (
    Column("ticket_id", "text", nullable=False),
    Column("ticket", "text", nullable=False),
    Column("strategy", "text", nullable=False),
)


def _finite(value: Any) -> float | None:
    """NaN and infinities have no canonical JSON and sort differently per store."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class IncidentsView(View):
    name: ClassVar[str] = "incidents"
    version: ClassVar[int] = 2
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            TABLE,
            COLUMNS,
            key=("position",),
            indexes=(
                ("window_start",),
                ("metric", "window_start"),
                ("strategy", "window_start"),
                ("severity", "window_start"),
                ("ticket_id", "position"),
            ),
            append_only=True,
        ),
        Table(TICKETS, TICKET_COLUMNS, key=("ticket_id",)),
        Table(ENDS, END_COLUMNS, key=("incident",), indexes=(("ticket_id",),)),
    )

    def wants(self, topic: str) -> bool:
        return topic in (BREACH, RESOLVED, OPENED)

    def needs(self, facts: Sequence[Fact]) -> Mapping[str, Iterable[Any]]:
        opened = {f.originator_id for f in facts if f.topic == OPENED}  # born in this batch
        return {TICKETS: {f.originator_id for f in facts if f.topic == BREACH} - opened}

    def apply(self, fact: Fact, rows: Rows) -> None:
        d = fact.data
        if fact.topic == OPENED:
            rows.put(TICKETS, fact.originator_id, (fact.originator_id, d["key"], d["strategy"]))
            return
        if fact.topic == RESOLVED:
            key = incident_key(fact.originator_id, d["breach_id"])
            end = micros(d["window_end"])
            row = (key, fact.originator_id, d["breach_id"], end, fact.position,
                   micros(d["timestamp"]), d.get("actor"))
            rows.put(ENDS, key, row)
            return
        ticket = rows.get(TICKETS, fact.originator_id)
        key, strategy = (ticket[1], ticket[2]) if ticket else (None, None)
        labels = d.get("labels") or {}
        start = micros(d["window_start"])
        end = micros(d["window_end"]) if d.get("window_end") else None
        rows.append(
            TABLE,
            (
                fact.position,
                fact.originator_id,
                key,
                strategy or labels.get("strategy"),
                d["breach_id"],
                d.get("rule"),
                d["metric"],
                encoding.dumps(labels),
                _finite(d.get("threshold")),
                d.get("unit"),
                d.get("comparison"),
                _finite(d.get("observed")),
                start,
                end,
                None if end is None else (end - start) / 1e6,
                d.get("samples"),
                d["severity"],
                d.get("escalation"),
                d.get("source"),
                d.get("detail"),
                d.get("incident_ref"),
                micros(d["timestamp"]),
                d.get("actor"),
            ),
        )


def incident_key(ticket_id: str, breach_id: str) -> str:
    return f"{ticket_id}/{breach_id}"
