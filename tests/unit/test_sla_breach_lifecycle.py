"""A breach's end on the ticket: recorded once more, as a fact of its own, when the
breach was recorded still going on; never an edit, never twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import TicketClosedError
from opsledger.domain.runbook import Role, Severity
from opsledger.domain.ticket import Ticket
from story import PEOPLE, open_ticket

OPERATOR = PEOPLE[Role.OPERATOR]
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
END = datetime(2026, 11, 23, 14, 2, 30, tzinfo=UTC)


@pytest.fixture
def app() -> OpsLedger:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def breach(*, end: datetime | str | None, source: str = "alertmanager", **more) -> dict:
    return {
        "breach_id": "b1", "rule": "order_latency", "metric": "metrics.execution.latency",
        "labels": {"alertname": "OrderLatencyHigh"}, "threshold": 120.0, "unit": "ms",
        "comparison": "p95 < 120 ms", "observed": 171.0, "window_start": START,
        "window_end": end, "samples": 1, "severity": Severity.CRITICAL,
        "escalation": "Execution Trader", "source": source, "detail": "firing",
        "incident_ref": "", **more,
    }


def recorded(app: OpsLedger, key: str) -> list[str]:
    return [type(e).__name__ for e in app.ticket_events(key)
            if isinstance(e, Ticket.SlaBreachRecorded | Ticket.SlaBreachResolved)]


def test_an_open_breach_gets_its_end_once(app):
    key = open_ticket(app)
    assert app.record_breach(key, breach=breach(end=None), actor=OPERATOR, role=None)
    assert not app.record_breach(key, breach=breach(end=None), actor=OPERATOR, role=None)
    ended = breach(end=END.isoformat(), detail="resolved")  # as a signed intent carries it
    assert app.record_breach(key, breach=ended, actor=OPERATOR, role=None)
    assert not app.record_breach(key, breach=ended, actor=OPERATOR, role=None)
    assert recorded(app, key) == ["SlaBreachRecorded", "SlaBreachResolved"]
    first, resolution = [e for e in app.ticket_events(key)
                         if isinstance(e, Ticket.SlaBreachRecorded | Ticket.SlaBreachResolved)]
    assert first.window_end is None  # the first fact is left as it was
    assert (resolution.breach_id, resolution.window_end) == ("b1", END)
    assert app.get_ticket(key).breaches["b1"]["window_end"] == END


def test_a_breach_recorded_with_its_end_is_not_ended_again(app):
    key = open_ticket(app)
    assert app.record_breach(key, breach=breach(end=END, source="prometheus"), actor=OPERATOR,
                             role=None)
    later = breach(end=datetime(2026, 11, 23, 15, tzinfo=UTC), source="prometheus")
    assert not app.record_breach(key, breach=later, actor=OPERATOR, role=None)
    assert recorded(app, key) == ["SlaBreachRecorded"]


def test_an_alert_recorded_before_this_release_as_a_zero_length_window_gets_its_end(app):
    # Firing alerts used to be recorded with their end at their start.
    key = open_ticket(app)
    assert app.record_breach(key, breach=breach(end=START), actor=OPERATOR, role=None)
    assert app.record_breach(key, breach=breach(end=END), actor=OPERATOR, role=None)
    assert recorded(app, key) == ["SlaBreachRecorded", "SlaBreachResolved"]


def test_a_manual_breach_recorded_open_can_be_given_its_end(app):
    key = open_ticket(app)
    assert app.record_breach(key, breach=breach(end=None, source="manual"), actor=OPERATOR,
                             role=None)
    assert app.record_breach(key, breach=breach(end=END, source="manual"), actor=OPERATOR,
                             role=None)
    assert recorded(app, key) == ["SlaBreachRecorded", "SlaBreachResolved"]


def test_an_end_before_the_start_is_not_recorded(app):
    key = open_ticket(app)
    app.record_breach(key, breach=breach(end=None), actor=OPERATOR, role=None)
    early = datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert not app.record_breach(key, breach=breach(end=early), actor=OPERATOR, role=None)


def test_a_closed_ticket_refuses_an_end_but_not_a_rerun(app):
    key = open_ticket(app)
    app.record_breach(key, breach=breach(end=None), actor=OPERATOR, role=None)
    ticket = app.get_ticket(key)
    ticket.closed = True  # as if sealed, verified and closed
    assert ticket.record_breach(breach=breach(end=None), actor=OPERATOR, role=None) is None
    with pytest.raises(TicketClosedError):
        ticket.record_breach(breach=breach(end=END), actor=OPERATOR, role=None)
