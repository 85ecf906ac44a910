"""The CLI as a new user scripts it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
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


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "evidence.md"
    path.write_text("signed\n")
    return path


@pytest.fixture(autouse=True)
def desk(cli_env) -> None:
    """Every story here starts on a staffed desk: the roster grants each person their role."""
    staff(cli_env)


def ol(cli_env, *argv: str):
    return invoke(list(argv), cli_env)


def open_prod_ticket(cli_env) -> None:
    # the dev lead asks for the change: its opener may not also give the change-ticket approval
    r = ol(cli_env, "ticket", "open", "CHG-2041", "--strategy", "momo-1", "--artifact", ARTIFACT,
           "--actor", OWNERS["dev-lead"])
    assert r.code == 0, r.err


def attach(cli_env, evidence: Path, skip: str | None = None) -> None:
    for check in CHECKS:
        if check.name == skip:
            continue
        for role in check.owners:
            r = ol(cli_env, "evidence", "attach", "CHG-2041", check.name, str(evidence),
                   "--role", role.value, "--actor", OWNERS[role.value])
            assert r.code == 0, r.err
    for approval, role in (("change-ticket", "release-manager"), ("risk-signoff", "risk-officer"),
                           ("compliance-memo", "compliance-officer")):
        r = ol(cli_env, "approve", "CHG-2041", approval, "--role", role, "--actor", OWNERS[role])
        assert r.code == 0, r.err


def test_incomplete_prod_deploy_is_downgraded_to_staging(cli_env, evidence, tmp_path):
    open_prod_ticket(cli_env)
    attach(cli_env, evidence, skip="incident-playbooks")

    gate = ol(cli_env, "gate", "CHG-2041", "--json")
    assert gate.code == 1
    assert json.loads(gate.out) == {"ticket": "CHG-2041", "decision": "no-go",
                                    "missing": ["incident-playbooks"]}

    r = ol(cli_env, "run", "CHG-2041", "deploy", "--session-dir", str(tmp_path / "s"), "--",
           "sh", "-c", 'echo "deploying $*"', "sh", "--env", "prod")
    assert r.code == 0, r.err
    assert "DOWNGRADED to staging" in r.err and "incident-playbooks" in r.err
    # the script itself was told staging, never prod
    assert (tmp_path / "s" / "deploy.log").read_text() == "deploying --env staging\n"


def test_argv_env_is_rewritten_when_downgraded(cli_env, evidence, tmp_path):
    open_prod_ticket(cli_env)
    r = ol(cli_env, "run", "CHG-2041", "deploy", "--session-dir", str(tmp_path / "s"), "--",
           "sh", "-c", 'echo "$@ effective=$OPSLEDGER_EFFECTIVE_ENV"', "sh", "--env", "prod")
    assert r.code == 0, r.err
    assert (tmp_path / "s" / "deploy.log").read_text() == "--env staging effective=staging\n"


def test_complete_ticket_goes_to_prod(cli_env, evidence):
    open_prod_ticket(cli_env)
    attach(cli_env, evidence)
    gate = ol(cli_env, "gate", "CHG-2041")
    assert gate.code == 0 and "GO" in gate.out


def test_kill_without_reason_is_refused_with_one_line(cli_env, tmp_path):
    open_prod_ticket(cli_env)
    r = ol(cli_env, "run", "CHG-2041", "kill", "--session-dir", str(tmp_path), "--actor",
           "dana.ops", "--", "true")
    assert r.code == 1
    assert r.error_lines == ["opsledger: error: CHG-2041: kill needs a non-empty --reason for "
                             "the record"]
    assert not (tmp_path / "kill.log").exists()  # nothing ran, no empty log left behind


def test_a_role_the_roster_does_not_grant_is_refused_and_nothing_runs(cli_env, tmp_path, evidence):
    open_prod_ticket(cli_env)
    # alice is the Release Manager: she may not pull the kill switch, whatever she types.
    r = ol(cli_env, "run", "CHG-2041", "kill", "--reason", "drift", "--role", "operator",
           "--session-dir", str(tmp_path), "--", "true")
    assert r.code == 1
    assert r.error_lines == ["opsledger: error: alice.rm: the roster does not grant alice.rm the "
                             "Operator role"]
    r = ol(cli_env, "evidence", "attach", "CHG-2041", "risk-envelope", str(evidence))
    assert r.code == 1
    assert "needs the Risk Officer; the roster grants alice.rm release-manager" in r.err
    assert not (tmp_path / "kill.log").exists()
    shown = json.loads(ol(cli_env, "ticket", "show", "CHG-2041", "--json").out)
    assert shown["commands"] == [] and shown["evidence"] == {}
    # The administrator grants the role; now the same command is allowed, and recorded.
    r = ol(cli_env, "roster", "grant", "alice.rm", "risk-officer", "--reason", "cover",
           "--actor", "root.admin")
    assert r.code == 0, r.err
    r = ol(cli_env, "evidence", "attach", "CHG-2041", "risk-envelope", str(evidence))
    assert r.code == 0, r.err


def test_close_without_archive_is_refused(cli_env):
    open_prod_ticket(cli_env)
    r = ol(cli_env, "ticket", "close", "CHG-2041")
    assert r.code == 1
    assert len(r.error_lines) == 1 and "no archive" in r.err


def test_shift_is_accepted_only_after_four_steps(cli_env, evidence):
    base = ["shift", "step", "--actor", "dana.ops", "--date", "2026-11-23"]
    for step in ("todo-reviewed", "schedule-confirmed", "comms-walked"):
        r = ol(cli_env, *base, step, "--json")
        assert r.code == 0 and json.loads(r.out)["accepted"] is False
    r = ol(cli_env, *base, "heartbeat-tested")
    assert r.code == 2 and "screenshot" in r.err
    shown = ol(cli_env, "shift", "show", "--operator", "dana.ops", "--date", "2026-11-23", "--json")
    assert json.loads(shown.out)["accepted"] is False
    r = ol(cli_env, *base, "heartbeat-tested", "--attach", str(evidence), "--json")
    assert r.code == 0 and json.loads(r.out) == {
        "operator": "dana.ops", "date": "2026-11-23", "step": "heartbeat-tested",
        "accepted": True, "missing": []}


def test_wrong_role_and_wrong_key_exit_codes(cli_env, evidence):
    open_prod_ticket(cli_env)
    r = ol(cli_env, "evidence", "attach", "CHG-2041", "risk-envelope", str(evidence),
           "--role", "dev-lead")
    assert r.code == 1 and "Risk Officer" in r.err and len(r.error_lines) == 1
    r = ol(cli_env, "evidence", "attach", "CHG-9999", "risk-envelope", str(evidence),
           "--role", "risk-officer")
    assert r.code == 2 and "CHG-9999" in r.err and len(r.error_lines) == 1
    r = ol(cli_env, "evidence", "attach", "CHG-2041", "risk-envelope", "/no/such/file",
           "--role", "risk-officer")
    assert r.code == 2 and len(r.error_lines) == 1


def test_flag_set_get_and_manual_breach(cli_env):
    open_prod_ticket(cli_env)
    r = ol(cli_env, "flag", "set", "live.enabled", "true", "--reason", "go", "--ticket",
           "CHG-2041", "--json")
    assert json.loads(r.out) == {"flag": "live.enabled", "old": None, "new": "true",
                                 "changed": True}
    assert ol(cli_env, "flag", "get", "live.enabled").out.strip() == "true"
    args = ["sla", "breach", "CHG-2041", "--metric", "metrics.execution.latency", "--observed",
            "150", "--threshold", "120", "--start", "2026-11-23T14:00:00Z", "--escalation",
            "Execution Trader", "--json"]
    assert json.loads(ol(cli_env, *args).out)["recorded"] is True
    assert json.loads(ol(cli_env, *args).out)["recorded"] is False
    naive = ol(cli_env, *[a if a != "2026-11-23T14:00:00Z" else "2026-11-23T14:00" for a in args])
    assert naive.code == 2 and "time zone" in naive.err
