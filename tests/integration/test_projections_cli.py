"""The read side as a user scripts it, on SQLite and on PostgreSQL: ticket
show/list, timeline, incidents and their export, flag history, time travel,
and the projections commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clirunner import invoke, staff
from opsledger.domain.runbook import CHECKS

ARTIFACT = "sha256:" + "ab" * 32
OWNERS = {
    "release-manager": "alice.rm", "risk-officer": "bob.risk", "dev-lead": "dave.dev",
    "sre-captain": "erin.sre", "incident-commander": "frank.ic",
    "compliance-officer": "carol.compliance",
}


@pytest.fixture(autouse=True)
def desk(cli_env) -> None:
    """Every story here starts on a staffed desk: the roster grants each person their role."""
    staff(cli_env)


def ol(cli_env, *argv: str):
    return invoke(list(argv), cli_env)


def ok(cli_env, *argv: str):
    r = ol(cli_env, *argv)
    assert r.code == 0, (argv, r.err)
    return r


def js(cli_env, *argv: str):
    return json.loads(ok(cli_env, *argv, "--json").out)


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "evidence.md"
    path.write_text("signed\n")
    return path


def prepare(cli_env, evidence: Path, key: str = "CHG-2041", skip: str | None = None,
            strategy: str = "momo-1") -> None:
    # the dev lead asks for the change: its opener may not also give the change-ticket approval
    ok(cli_env, "ticket", "open", key, "--strategy", strategy, "--artifact", ARTIFACT,
       "--session-date", "2026-11-23", "--actor", OWNERS["dev-lead"])
    for check in CHECKS:
        if check.name == skip:
            continue
        for role in check.owners:
            ok(cli_env, "evidence", "attach", key, check.name, str(evidence), "--role", role.value,
               "--actor", OWNERS[role.value])
    for approval, role in (("change-ticket", "release-manager"), ("risk-signoff", "risk-officer"),
                           ("compliance-memo", "compliance-officer")):
        ok(cli_env, "approve", key, approval, "--role", role, "--actor", OWNERS[role])


def breach(cli_env, key: str, metric: str, start: str, end: str | None, severity: str,
           incident: str = "INC-7731") -> None:
    args = ["sla", "breach", key, "--metric", metric, "--observed", "180", "--threshold", "120",
            "--unit", "ms", "--comparison", "p95 < 120 ms", "--start", start, "--severity", severity,
            "--escalation", "Execution Trader", "--incident", incident]
    ok(cli_env, *args, *(["--end", end] if end else []))


def test_is_chg_2041_go_for_prod_and_what_was_missing_before(cli_env, evidence):
    prepare(cli_env, evidence, skip="incident-playbooks")
    assert ol(cli_env, "gate", "CHG-2041").code == 1
    gate_position = js(cli_env, "projections", "status")[0]["head"]

    doc = js(cli_env, "ticket", "show", "CHG-2041")
    assert (doc["status"], doc["missing_checks"]) == ("no-go", ["incident-playbooks"])
    assert doc["gate"]["missing"] == ["incident-playbooks"]
    assert set(doc["approvals"]) == {"change-ticket", "risk-signoff", "compliance-memo"}

    ok(cli_env, "evidence", "attach", "CHG-2041", "incident-playbooks", str(evidence),
       "--role", "incident-commander", "--actor", "frank.ic")
    assert ol(cli_env, "gate", "CHG-2041").code == 0
    # read commands catch up by themselves: the new gate shows without any catch-up
    assert js(cli_env, "ticket", "show", "CHG-2041")["status"] == "go"

    then = js(cli_env, "ticket", "show", "CHG-2041", "--at-position", str(gate_position))
    assert (then["status"], then["missing_checks"]) == ("no-go", ["incident-playbooks"])
    assert then["as_of"] == {"position": gate_position, "time": None}
    human = ok(cli_env, "ticket", "show", "CHG-2041", "--at-position", str(gate_position)).out
    assert f"as it stood at position {gate_position}" in human and "NO-GO" in human
    assert ok(cli_env, "ticket", "show", "CHG-2041").out.splitlines()[1].split() == ["status", "go"]


def test_time_travel_by_time_and_its_refusals(cli_env, evidence):
    prepare(cli_env, evidence)
    timeline = js(cli_env, "timeline", "CHG-2041")["events"]
    approvals = [e for e in timeline if e["kind"] == "ApprovalGiven"]
    first_approval = approvals[0]["at"]
    before = js(cli_env, "ticket", "show", "CHG-2041", "--as-of", first_approval)
    assert list(before["approvals"]) == ["change-ticket"]
    assert before["as_of"]["time"] == first_approval

    r = ol(cli_env, "ticket", "show", "CHG-2041", "--as-of", "2020-01-01T00:00:00Z")
    assert r.code == 2 and r.error_lines == ["opsledger: error: CHG-2041: no such ticket at "
                                             "2020-01-01T00:00:00.000000Z"]
    r = ol(cli_env, "ticket", "show", "CHG-2041", "--as-of", first_approval, "--at-position", "3")
    assert r.code == 2 and "not both" in r.err
    r = ol(cli_env, "ticket", "show", "CHG-2041", "--as-of", "2026-11-23T14:05:00")
    assert r.code == 2 and "no time zone" in r.err
    r = ol(cli_env, "ticket", "show", "CHG-404")
    assert r.code == 2 and r.error_lines == ["opsledger: error: CHG-404: no such ticket"]
    r = ol(cli_env, "ticket", "show", "not a key")
    assert r.code == 2 and len(r.error_lines) == 1


def test_yesterdays_session_in_order_with_its_flag_flips(cli_env, evidence):
    prepare(cli_env, evidence)
    ok(cli_env, "flag", "set", "live.enabled", "true", "--reason", "go live", "--ticket", "CHG-2041",
       "--actor", "dana.ops")
    ok(cli_env, "flag", "set", "live.enabled", "false", "--reason", "kill switch drill",
       "--actor", "erin.sre")
    timeline = js(cli_env, "timeline", "CHG-2041")
    events = timeline["events"]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert events[0]["kind"] == "Opened" and events[-1]["kind"] == "flag.Changed"
    assert events[-1]["summary"] == "live.enabled: unset -> true: go live"
    assert all(e["at"].endswith("Z") and e["summary"] for e in events)
    human = ok(cli_env, "timeline", "CHG-2041").out.splitlines()
    assert human[0].split()[:4] == ["POSITION", "TIME", "(UTC)", "ACTOR"] and len(human) == len(events) + 1

    history = js(cli_env, "flag", "history", "live.enabled")["changes"]
    assert [(c["old"], c["new"], c["actor"], c["reason"], c["ticket"]) for c in history] == [
        (None, "true", "dana.ops", "go live", "CHG-2041"),
        ("true", "false", "erin.sre", "kill switch drill", None),
    ]
    assert ok(cli_env, "flag", "history", "never.set").out.strip() == "never.set: no change recorded"
    assert ol(cli_env, "flag", "history", "Not A Flag").code == 2


def test_every_latency_breach_of_a_strategy_this_quarter(cli_env, evidence):
    prepare(cli_env, evidence)
    prepare(cli_env, evidence, key="CHG-2042", strategy="meanrev-2")
    lat = "metrics.execution.latency"
    breach(cli_env, "CHG-2041", lat, "2026-10-02T14:00:00Z", "2026-10-02T14:03:00Z", "critical")
    breach(cli_env, "CHG-2041", "metrics.heartbeat", "2026-10-02T15:00:00Z", None, "page")
    # late in the quarter, but not after today: a breach in the future is refused (sla merge)
    breach(cli_env, "CHG-2041", lat, "2026-12-01T09:00:00Z", "2026-12-01T09:00:30Z", "warning")
    breach(cli_env, "CHG-2042", lat, "2026-11-05T10:00:00Z", "2026-11-05T10:10:00Z", "critical")
    breach(cli_env, "CHG-2041", lat, "2026-09-30T23:59:59Z", "2026-10-01T00:05:00Z", "warning")

    quarter = ["--since", "2026-10-01T00:00:00Z", "--until", "2027-01-01T00:00:00Z"]
    rows = js(cli_env, "incidents", "--metric", lat, "--strategy", "momo-1", *quarter)
    assert [(r["ticket"], r["window_start"][:10], r["severity"]) for r in rows] == [
        ("CHG-2041", "2026-10-02", "critical"), ("CHG-2041", "2026-12-01", "warning")]
    assert rows[0]["duration_s"] == 180.0 and rows[0]["incident_ref"] == "INC-7731"
    assert {r["ticket"] for r in js(cli_env, "incidents", "--severity", "critical")} == {"CHG-2041", "CHG-2042"}
    assert len(js(cli_env, "incidents")) == 5
    assert len(js(cli_env, "incidents", "--ticket", "CHG-2042")) == 1
    human = ok(cli_env, "incidents", "--metric", lat, *quarter).out.splitlines()
    assert human[0].startswith("START (UTC)") and len(human) == 4
    r = ol(cli_env, "incidents", "--since", "2026-12-01T00:00:00Z", "--until", "2026-11-01T00:00:00Z")
    assert r.code == 2 and r.error_lines == ["opsledger: error: --since must be before --until"]
    assert ol(cli_env, "incidents", "--severity", "fatal").code == 2


def test_the_retrospective_export_for_the_archive(cli_env, evidence, tmp_path):
    prepare(cli_env, evidence)
    breach(cli_env, "CHG-2041", "metrics.execution.latency", "2026-11-23T14:00:00Z",
           "2026-11-23T14:01:45Z", "critical")
    breach(cli_env, "CHG-2041", "metrics.heartbeat", "2026-11-23T14:09:45Z", None, "page",
           incident="INC-7732")
    out = tmp_path / "reports" / "live" / "2026-11-23"
    result = js(cli_env, "incidents", "export", "--ticket", "CHG-2041", "--output", f"{out}/")
    path = Path(result["path"])
    assert path == out / "sla_incidents.md" and result["breaches"] == 2
    text = path.read_text()
    assert text.startswith("# SLA incidents: CHG-2041\n")
    assert "- Incident ticket: [INC-7731](#incident-inc-7731)" in text
    assert "- Incident ticket: [INC-7732](#incident-inc-7732)" in text
    assert "- Time to resolve: 1 min 45 s" in text and "- Time to resolve: n/a" in text
    assert "Execution Trader" in text
    again = js(cli_env, "incidents", "export", "--ticket", "CHG-2041", "--output", str(path))
    assert again["path"] == str(path) and path.read_text() == text  # deterministic
    r = ol(cli_env, "incidents", "export", "--ticket", "CHG-404", "--output", f"{out}/")
    assert r.code == 2


def test_projections_status_rebuild_and_digest(cli_env, evidence):
    prepare(cli_env, evidence)
    status = js(cli_env, "projections", "status")
    assert {s["view"] for s in status} == {"tickets", "timeline", "incidents", "flags"}
    head = status[0]["head"]
    assert all(s["lag"] == head for s in status)  # nothing read yet

    caught = js(cli_env, "projections", "catch-up")
    assert caught == {"events": head, "views": dict.fromkeys(("tickets", "timeline", "incidents", "flags"), head)}
    assert all(s["lag"] == 0 for s in js(cli_env, "projections", "status"))

    digest = js(cli_env, "projections", "digest")
    assert js(cli_env, "projections", "rebuild") == {
        "rebuilt": ["tickets", "timeline", "incidents", "flags"], "events": head}
    assert js(cli_env, "projections", "digest") == digest
    assert js(cli_env, "projections", "rebuild", "timeline")["rebuilt"] == ["timeline"]
    assert js(cli_env, "projections", "digest", "timeline") == {"timeline": digest["timeline"]}
    human = ok(cli_env, "projections", "digest").out.splitlines()
    assert human[0].split() == ["VIEW", "POSITION", "ROWS", "SHA256"] and len(human) == 5
    r = ol(cli_env, "projections", "rebuild", "nope")
    assert r.code == 2 and len(r.error_lines) == 1


def test_ticket_list_filters_by_status_and_strategy(cli_env, evidence):
    prepare(cli_env, evidence)
    prepare(cli_env, evidence, key="CHG-2042", strategy="meanrev-2", skip="health-gate")
    ol(cli_env, "gate", "CHG-2042")
    listed = js(cli_env, "ticket", "list")
    assert [(t["ticket"], t["status"]) for t in listed] == [("CHG-2041", "open"), ("CHG-2042", "no-go")]
    assert [t["ticket"] for t in js(cli_env, "ticket", "list", "--status", "no-go")] == ["CHG-2042"]
    assert [t["ticket"] for t in js(cli_env, "ticket", "list", "--strategy", "momo-1")] == ["CHG-2041"]
    assert ol(cli_env, "ticket", "list", "--status", "sideways").code == 2


def test_follow_keeps_the_views_live_until_interrupted(cli_env, evidence, opsledger_exe):
    prepare(cli_env, evidence)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}, **cli_env}
    follower = subprocess.Popen([*opsledger_exe, "projections", "catch-up", "--follow", "--idle", "0.2"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ok(cli_env, "flag", "set", "live.enabled", "true", "--reason", "go live", "--ticket", "CHG-2041")
        deadline = time.monotonic() + 60
        while True:
            status = js(cli_env, "projections", "status")  # status itself never catches up
            if all(s["lag"] == 0 for s in status) and status[0]["position"] > 0:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
    assert follower.returncode == 130, err
    assert "interrupted" in err
