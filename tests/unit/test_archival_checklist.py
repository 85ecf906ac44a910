"""The archival checklist follows what the events say happened."""

from __future__ import annotations

from datetime import UTC, datetime

from opsledger.domain.application import OpsLedger
from opsledger.domain.archival import checklist, problems
from opsledger.domain.runbook import Command, Role, Severity
from story import FILE_SHA, PEOPLE, open_ticket

BASE = ["metrics_20261123T133000Z.json.gz", "risk_limits.yaml", "positions.csv", "pnl.csv",
        "exposure.csv", "logs_20261123T133000Z.tar.gz"]


def session(app: OpsLedger, *commands: Command) -> str:
    key = open_ticket(app)
    for command in commands:
        run_id, _, _ = app.start_command(key, command=command, argv=["x"],
                                         log_path=f"reports/live/d/{command.log_name}.log",
                                         actor="dana.ops", role=Role.OPERATOR, reason="r")
        app.finish_command(key, run_id=run_id, outcome="exited", exit_code=0,
                           log_sha256=FILE_SHA, log_bytes=1, actor="dana.ops", role=None)
    return key


def app() -> OpsLedger:
    return OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_clean_settled_session_needs_its_logs_and_the_static_items():
    ledger = app()
    key = session(ledger, Command.DEPLOY, Command.VALIDATE, Command.SETTLE)
    logs = ["deploy.log", "validation.log", "settle.log"]
    items = checklist(ledger.get_ticket(key), BASE + logs, {n: FILE_SHA for n in logs})
    assert problems(items) == []
    assert "kill.log" not in [i.item for i in items]  # no kill was recorded
    assert "postmortem.md" not in [i.item for i in items]


def test_missing_items_are_all_listed():
    ledger = app()
    key = session(ledger, Command.DEPLOY, Command.KILL)
    items = checklist(ledger.get_ticket(key), ["deploy.log", "positions.csv"],
                      {"deploy.log": FILE_SHA})
    assert [i.item for i in problems(items)] == [
        "kill.log", "metrics_<timestamp>.json.gz", "risk_limits.yaml", "PnL CSV",
        "exposure CSV", "logs_<timestamp>.tar.gz", "postmortem.md"]


def test_a_log_changed_after_its_script_finished_is_altered():
    ledger = app()
    key = session(ledger, Command.DEPLOY)
    items = checklist(ledger.get_ticket(key), BASE + ["deploy.log"], {"deploy.log": "0" * 64})
    (altered,) = problems(items)
    assert altered.item == "deploy.log" and altered.status == "altered"
    assert "was recorded" in altered.line()


def test_breaches_require_the_incident_report():
    ledger = app()
    key = session(ledger, Command.DEPLOY)
    ledger.record_breach(key, breach={
        "breach_id": "b", "rule": "r", "metric": "m", "labels": {}, "threshold": 1.0,
        "unit": "", "comparison": "", "observed": 2.0,
        "window_start": datetime(2026, 11, 23, tzinfo=UTC), "window_end": None, "samples": 1,
        "severity": Severity.WARNING, "escalation": "e", "source": "manual", "detail": "",
        "incident_ref": ""}, actor=PEOPLE[Role.OPERATOR], role=None)
    items = checklist(ledger.get_ticket(key), BASE + ["deploy.log"], {"deploy.log": FILE_SHA})
    assert [i.item for i in problems(items)] == ["sla_incidents.md"]
