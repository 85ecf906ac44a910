"""The views' logic on its own: a session's events in, rows out, no store involved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opsledger.domain.application import OpsLedger
from opsledger.domain.runbook import Command, Role, Severity
from opsledger.domain.ticket import ticket_id
from opsledger.projections import EventLog, Fact, render_sla_incidents
from opsledger.projections.facts import iso, micros
from opsledger.projections.flags import FlagsView
from opsledger.projections.incidents import IncidentsView
from opsledger.projections.reader import incident_record
from opsledger.projections.tickets import TicketsView, document, fold
from opsledger.projections.timeline import TimelineView
from opsledger.projections.view import Rows, View
from story import FILE_SHA, PEOPLE, approve_all, attach_all, open_ticket

OPERATOR = PEOPLE[Role.OPERATOR]
START = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)


@pytest.fixture
def app() -> OpsLedger:
    return OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def facts(app: OpsLedger) -> list[Fact]:
    return EventLog(app.recorder, app.mapper).read(0, 100_000)


def project(view: View, log: list[Fact]) -> Rows:
    rows = Rows()
    for fact in log:
        if view.wants(fact.topic):
            view.apply(fact, rows)
    return rows


def ticket_doc(app: OpsLedger, key: str = "CHG-2041") -> dict:
    rows = project(TicketsView(), facts(app))
    return document(rows.get("view_tickets", str(ticket_id(key))))


def run(app: OpsLedger, key: str, command: Command, exit_code: int = 0, reason: str = "") -> str:
    run_id, _, _ = app.start_command(key, command=command, argv=["tradepulse-cli", command.value],
                                     log_path=f"{command.log_name}.log", actor=OPERATOR,
                                     role=Role.OPERATOR, reason=reason)
    app.finish_command(key, run_id=run_id, outcome="exited", exit_code=exit_code,
                       log_sha256=FILE_SHA, log_bytes=123, actor=OPERATOR, role=Role.OPERATOR)
    return run_id


def breach(app: OpsLedger, key: str, n: int, *, minutes: int | None = 4, incident: str = "INC-7",
           metric: str = "metrics.execution.latency", severity: Severity = Severity.CRITICAL) -> None:
    start = START + timedelta(minutes=10 * n)
    app.record_breach(key, breach={
        "breach_id": f"b{n}", "rule": "latency", "metric": metric,
        "labels": {"strategy": "momo-1", "venue": "xnas"}, "threshold": 120.0, "unit": "ms",
        "comparison": "p95 < 120 ms", "observed": 180.5, "window_start": start,
        "window_end": None if minutes is None else start + timedelta(minutes=minutes),
        "samples": 5, "severity": severity, "escalation": "Execution Trader",
        "source": "prometheus", "detail": "p95 above threshold", "incident_ref": incident,
    }, actor=OPERATOR, role=Role.OPERATOR)


def test_the_ticket_view_agrees_with_the_aggregate_through_a_downgraded_session(app):
    key = open_ticket(app)
    assert ticket_doc(app)["status"] == "open"
    attach_all(app, key, skip={"incident-playbooks"})
    doc = ticket_doc(app)
    assert doc["missing_checks"] == app.get_ticket(key).missing_checks()
    assert "approvals (change-ticket, risk-signoff, compliance-memo)" in doc["missing_checks"]

    approve_all(app, key)
    app.evaluate_gate(key, actor=PEOPLE[Role.RELEASE_MANAGER], role=Role.RELEASE_MANAGER)
    doc = ticket_doc(app)
    assert doc["status"] == "no-go"
    assert doc["gate"]["missing"] == ["incident-playbooks"] == doc["missing_checks"]
    assert set(doc["approvals"]) == {"change-ticket", "risk-signoff", "compliance-memo"}

    deploy = run(app, key, Command.DEPLOY)
    app.set_flag("live.enabled", value="true", actor=OPERATOR, role=Role.OPERATOR,
                 reason="deploy", ticket=key)
    app.observe_flag(key, run_id=deploy, actor=OPERATOR, role=Role.OPERATOR)
    doc = ticket_doc(app)
    ticket = app.get_ticket(key)
    assert (doc["requested_env"], doc["effective_env"]) == ("prod", "staging")
    assert doc["effective_env"] == ticket.effective_env.value
    assert doc["downgrades"][0]["missing"] == ["incident-playbooks"]
    # a staging deploy must leave live trading off: true is a mismatch
    assert doc["live_enabled"] is True
    assert [m["expected"] for m in doc["flag_mismatches"]] == [False]
    assert len(doc["flag_mismatches"]) == len(ticket.flag_mismatches)
    command = doc["commands"][0]
    assert (command["command"], command["env"], command["exit_code"], command["log_sha256"]) == (
        "deploy", "staging", 0, FILE_SHA)
    assert doc["status"] == "deployed"


def test_superseded_evidence_reopens_the_gap_like_the_aggregate_says(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    evidence_id = next(e for e, r in app.get_ticket(key).evidence.items() if r["check"] == "health-gate")
    app.supersede_evidence(key, evidence_id=evidence_id, reason="wrong run", actor="dave.dev",
                           role=Role.DEV_LEAD)
    doc = ticket_doc(app)
    assert doc["missing_checks"] == app.get_ticket(key).missing_checks() == ["health-gate"]
    superseded = [e for e in doc["evidence"]["health-gate"] if e["superseded"]]
    assert superseded[0]["superseded"]["reason"] == "wrong run"


def test_a_session_from_settle_to_close(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    run(app, key, Command.DEPLOY)
    breach(app, key, 1)
    breach(app, key, 2, severity=Severity.WARNING)
    run(app, key, Command.SETTLE)
    assert ticket_doc(app)["status"] == "settled"
    seal = {"location": "file:///a", "archive_sha256": "11" * 32, "archive_bytes": 5,
            "manifest_sha256": "22" * 32, "location_hash": "33" * 32, "file_count": 9,
            "missing": [], "actor": OPERATOR, "role": Role.OPERATOR}
    app.record_seal(key, **seal)
    assert ticket_doc(app)["archive_status"] == "sealed"
    app.record_verification(key, location="file:///a", archive_sha256="11" * 32, ok=True,
                            failures=[], actor=OPERATOR, role=Role.OPERATOR)
    assert (ticket_doc(app)["status"], ticket_doc(app)["archive_status"]) == ("archived", "verified")
    app.close_ticket(key, actor=PEOPLE[Role.RELEASE_MANAGER], role=Role.RELEASE_MANAGER)
    doc = ticket_doc(app)
    assert doc["status"] == "closed" and doc["closed"]["archive_sha256"] == "11" * 32
    assert doc["settled"] and doc["breach_count"] == 2
    assert doc["breaches_by_severity"] == {"critical": 1, "warning": 1}
    assert doc["version"] == app.get_ticket(key).version == doc["events"]


def test_a_kill_halts_the_session(app):
    key = open_ticket(app)
    run(app, key, Command.DEPLOY)
    run(app, key, Command.KILL, exit_code=3, reason="latency runaway")
    doc = ticket_doc(app)
    assert doc["status"] == "halted"
    assert doc["kill_reasons"][0]["reason"] == "latency runaway"
    assert doc["commands"][-1]["exit_code"] == 3


def test_the_timeline_is_one_line_per_event_with_linked_flag_changes(app):
    key = open_ticket(app)
    attach_all(app, key, skip={"incident-playbooks"})
    app.evaluate_gate(key, actor="alice.rm", role=Role.RELEASE_MANAGER)
    run(app, key, Command.DEPLOY)
    app.set_flag("live.enabled", value="true", actor=OPERATOR, role=Role.OPERATOR,
                 reason="go live\tnow", ticket=key)
    app.set_flag("live.enabled", value="false", actor=OPERATOR, role=Role.OPERATOR,
                 reason="unrelated test toggle")
    breach(app, key, 1)
    rows = project(TimelineView(), facts(app)).appended["view_timeline"]
    subject = str(ticket_id(key))
    mine = [r for r in rows if r[1] == subject]
    assert len(mine) == len(app.ticket_events(key)) + 1  # plus the linked flag change
    assert [r[0] for r in mine] == sorted(r[0] for r in mine)
    kinds = [r[7] for r in mine]
    assert kinds[0] == "Opened" and "flag.Changed" in kinds and kinds[-1] == "SlaBreachRecorded"
    summaries = {r[7]: r[8] for r in mine}
    assert summaries["GateEvaluated"] == (
        "gate NO-GO, missing: approvals (change-ticket, risk-signoff, compliance-memo), "
        "incident-playbooks")
    assert summaries["flag.Changed"] == "live.enabled: unset -> true: go live now"
    assert summaries["SlaBreachRecorded"].startswith("critical SLA breach on metrics.execution.latency")
    assert "[INC-7]" in summaries["SlaBreachRecorded"]
    assert all("\n" not in r[8] and len(r[8]) <= 240 for r in rows)
    assert not any(r[8].startswith("live.enabled: true -> false") for r in rows)  # no ticket named


def test_a_topic_this_code_does_not_know_still_counts_on_the_timeline():
    opened = Fact(1, "opsledger.ticket.Opened", "t1", 1, {
        "key": "CHG-1", "strategy": "s", "env": "prod", "artifact_digest": "sha256:" + "a" * 64,
        "session_date": "2026-11-23", "actor": "a", "role": None, "title": "",
        "timestamp": "2026-11-23T14:05:00Z"})
    future = Fact(5, "opsledger.ticket.RiskLimitRaised", "t1", 2, {
        "actor": "b", "role": "risk-officer", "timestamp": "2026-11-23T14:06:00.5Z"})
    rows = project(TimelineView(), [opened, future]).appended["view_timeline"]
    assert rows[1][7:] == ("RiskLimitRaised", "opsledger.ticket.RiskLimitRaised (no summary for this event kind)")
    state = fold(fold(None, opened), future)
    assert (state["version"], state["position"], state["events"]) == (2, 5, 2)


def test_incident_rows_carry_strategy_window_and_duration(app):
    key = open_ticket(app)
    open_ticket(app, "CHG-2042")
    breach(app, key, 1, minutes=4)
    breach(app, "CHG-2042", 2, minutes=None, incident="", metric="metrics.heartbeat")
    rows = project(IncidentsView(), facts(app))
    incidents = [incident_record(r) for r in rows.appended["view_incidents"]]
    first, second = incidents
    assert (first["ticket"], first["strategy"], first["metric"]) == (key, "momo-1", "metrics.execution.latency")
    assert first["labels"] == {"strategy": "momo-1", "venue": "xnas"}
    assert first["window_start"] == "2026-11-23T14:15:00.000000Z"
    assert first["duration_s"] == 240.0 == first["time_to_resolve_s"]
    assert (first["observed"], first["threshold"], first["incident_ref"]) == (180.5, 120.0, "INC-7")
    assert first["time_to_detect_s"] is None  # recorded long after the breach ended
    assert second["window_end"] is None and second["duration_s"] is None
    assert second["time_to_detect_s"] > 0  # still going on when recorded
    assert rows.get("view_incident_tickets", str(ticket_id("CHG-2042")))[1:] == ("CHG-2042", "momo-1")


def test_flag_history_keeps_who_why_which_ticket(app):
    open_ticket(app)
    app.set_flag("live.enabled", value="on", actor="dana.ops", role=Role.OPERATOR,
                 reason="deploy", ticket="CHG-2041")
    app.set_flag("live.enabled", value="off", actor="erin.sre", role=Role.SRE_CAPTAIN,
                 reason="kill switch drill")
    app.set_flag("risk.throttle", value="0.5", actor="bob.risk", role=None, reason="tighten")
    rows = project(FlagsView(), facts(app)).appended["view_flag_changes"]
    live = [r for r in rows if r[1] == "live.enabled"]
    assert [(r[3], r[4], r[5], r[7], r[8]) for r in live] == [
        (None, "true", "dana.ops", "deploy", "CHG-2041"),
        ("true", "false", "erin.sre", "kill switch drill", None),
    ]
    assert [r[4] for r in rows if r[1] == "risk.throttle"] == ["0.5"]


def test_the_export_lists_each_breach_with_escalation_link_and_times(app):
    key = open_ticket(app)
    breach(app, key, 1, minutes=90)
    breach(app, key, 2, minutes=None, incident="https://pd.example/INC-9")
    incidents = [incident_record(r) for r in project(IncidentsView(), facts(app)).appended["view_incidents"]]
    text = render_sla_incidents(ticket_doc(app), incidents, position=42)
    assert text == render_sla_incidents(ticket_doc(app), incidents, position=42)
    assert text.startswith("# SLA incidents: CHG-2041\n")
    assert "- Breaches: 2" in text and "position 42" in text
    assert "- Escalation: Execution Trader" in text
    assert "- Incident ticket: [INC-7](#incident-inc-7)" in text
    assert '<a id="incident-inc-7"></a>' in text
    assert "[https://pd.example/INC-9](https://pd.example/INC-9)" in text
    assert "- Time to resolve: 1 h 30 min" in text
    assert "- Time to resolve: n/a" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(table_rows) == 2


def test_an_export_without_breaches_says_so(app):
    key = open_ticket(app)
    text = render_sla_incidents(ticket_doc(app, key), [], position=1)
    assert "No SLA breach was recorded for this session." in text
    assert json.dumps(text)  # plain text, nothing exotic


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(UTC)))
def test_stored_times_read_back_as_fixed_width_utc_text(moment):
    value = micros(moment.isoformat())
    assert iso(value) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")
    assert micros(iso(value)) == value
