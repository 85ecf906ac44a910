"""One contract for the event store, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import AlreadyExists
from opsledger.domain.runbook import ACTION_AUTHORITY, Env, Role, Severity
from opsledger.domain.ticket import Ticket, ticket_id
from story import FILE_SHA, PEOPLE, attach_all, open_ticket


def test_events_survive_a_restart_in_order(store_env):
    app = OpsLedger(env=store_env)
    key = open_ticket(app)
    attach_all(app, key)
    app.close()

    reopened = OpsLedger(env=store_env)
    events = reopened.ticket_events(key)
    assert isinstance(events[0], Ticket.Opened)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert all(e.timestamp.tzinfo is not None for e in events)
    assert reopened.get_ticket(key).missing_checks() == ["approvals (change-ticket, "
                                                         "risk-signoff, compliance-memo)"]
    reopened.close()


def test_ids_are_derived_from_keys_and_topics_are_stable(store_env):
    app = OpsLedger(env=store_env)
    key = open_ticket(app)
    assert app.get_ticket(key).id == ticket_id(key)
    topics = [n.topic for n in app.notifications()]
    # the desk's roster first (story.staff), then the ticket
    assert topics == ["opsledger.roster.Founded", *["opsledger.roster.RoleGranted"] * len(PEOPLE),
                      "opsledger.ticket.Opened"]
    with pytest.raises(AlreadyExists):
        open_ticket(app)
    app.close()


def test_notifications_are_global_and_ordered(store_env):
    app = OpsLedger(env=store_env)
    for n in range(5):
        open_ticket(app, f"CHG-{n + 1}")
    positions = [n.id for n in app.notifications(batch=2)]
    assert positions == sorted(positions) and len(positions) == 1 + len(PEOPLE) + 5
    assert app.head() == positions[-1]
    assert app.ticket_keys() == [f"CHG-{n + 1}" for n in range(5)]
    app.close()


def test_a_stale_writer_retries_on_fresh_state_and_loses_nothing(store_env):
    first, second = OpsLedger(env=store_env), OpsLedger(env=store_env)
    key = open_ticket(first)
    stale = second.get_ticket(key)  # loaded before the first writer saves
    first.attach_evidence(key, check="health-gate", path="t.md", sha256=FILE_SHA, size=1,
                          actor="dave.dev", role=Role.DEV_LEAD)
    # Saving the stale copy conflicts; the application path retries instead.
    stale.attach_evidence(check="risk-envelope", path="l.yaml", sha256=FILE_SHA, size=1,
                          actor="bob.risk", role=Role.RISK_OFFICER)
    with pytest.raises(Exception, match="(?i)integrity|unique|duplicate|conflict"):
        second.save(stale)
    second.attach_evidence(key, check="risk-envelope", path="l.yaml", sha256=FILE_SHA, size=1,
                           actor="bob.risk", role=Role.RISK_OFFICER)
    checks = sorted(r["check"] for r in first.get_ticket(key).evidence.values())
    assert checks == ["health-gate", "risk-envelope"]
    first.close()
    second.close()


# Recording a breach takes a role (issue 12): each writer process acts as a staffed
# person allowed to record one (the roster is founded by open_ticket, before they start).
BREACH_RECORDERS = [PEOPLE[r] for r in ACTION_AUTHORITY["record_breach"] if r in PEOPLE]


def _breach_writer(env: dict[str, str], key: str, worker: int, count: int) -> None:
    app = OpsLedger(env=env)
    for n in range(count):
        app.record_breach(key, breach={
            "breach_id": f"w{worker}-{n}", "rule": "r", "metric": "m", "labels": {},
            "threshold": 1.0, "unit": "", "comparison": "", "observed": 2.0,
            "window_start": datetime(2026, 11, 23, tzinfo=UTC), "window_end": None,
            "samples": 1, "severity": Severity.WARNING, "escalation": "e", "source": "test",
            "detail": "", "incident_ref": "",
        }, actor=BREACH_RECORDERS[worker % len(BREACH_RECORDERS)], role=None)
    app.close()


def test_concurrent_processes_appending_to_one_ticket_lose_no_event(store_env):
    app = OpsLedger(env=store_env)
    key = open_ticket(app)
    workers, per_worker = 4, 15
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_breach_writer, args=(store_env, key, w, per_worker))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers
    ticket = app.get_ticket(key)
    assert len(ticket.breaches) == workers * per_worker
    assert ticket.version == 1 + workers * per_worker
    app.close()


def test_flag_and_shift_records_round_trip(store_env):
    app = OpsLedger(env=store_env)
    open_ticket(app)
    app.set_flag("live.enabled", value="true", actor=PEOPLE[Role.OPERATOR], role=None,
                 reason="deploy", ticket="CHG-2041")
    app.close()
    again = OpsLedger(env=store_env)
    assert again.flag_value("live.enabled") == "true"
    assert again.get_ticket("CHG-2041").requested_env is Env.PROD
    again.close()
