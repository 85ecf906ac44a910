"""The runbook's rules, each as a short story on the in-memory store."""

from __future__ import annotations

from datetime import date

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import (
    AlreadyExists,
    ArchiveRequired,
    CommandStateError,
    EvidenceNotFound,
    InvalidInput,
    NotAuthorised,
    NotFound,
    ReasonRequired,
    SameSigner,
    TicketClosedError,
    WrongRole,
)
from opsledger.domain.runbook import Command, Env, Role, Severity, ShiftStep
from story import ADMIN, DIGEST, FILE_SHA, PEOPLE, approve_all, attach_all, open_ticket, staff

OPERATOR = PEOPLE[Role.OPERATOR]


@pytest.fixture
def app() -> OpsLedger:
    return OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def deploy(app: OpsLedger, key: str) -> tuple[str, Env, list[str]]:
    return app.start_command(key, command=Command.DEPLOY, argv=["tradepulse-cli", "deploy"],
                             log_path="deploy.log", actor=OPERATOR, role=Role.OPERATOR)


def finish(app: OpsLedger, key: str, run_id: str, exit_code: int = 0) -> None:
    app.finish_command(key, run_id=run_id, outcome="exited", exit_code=exit_code,
                       log_sha256=FILE_SHA, log_bytes=100, actor=OPERATOR, role=Role.OPERATOR)


def test_six_of_seven_artefacts_downgrades_a_prod_deploy_to_staging(app):
    key = open_ticket(app)
    attach_all(app, key, skip={"oncall-rotation"})
    approve_all(app, key)

    run_id, env, missing = deploy(app, key)

    assert env is Env.STAGING
    assert missing == ["oncall-rotation"]
    ticket = app.get_ticket(key)
    assert ticket.requested_env is Env.PROD and ticket.effective_env is Env.STAGING
    assert ticket.commands[run_id]["env"] is Env.STAGING
    kinds = [type(e).__name__ for e in app.ticket_events(key)]
    assert kinds.index("Downgraded") < kinds.index("CommandStarted")


def test_all_seven_artefacts_and_approvals_deploy_to_prod(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    assert app.evaluate_gate(key, actor=OPERATOR, role=Role.OPERATOR) == ("go", [])
    _, env, missing = deploy(app, key)
    assert env is Env.PROD and missing == []


def test_approvals_check_needs_all_three_approvals(app):
    key = open_ticket(app)
    attach_all(app, key)
    decision, missing = app.evaluate_gate(key, actor=OPERATOR, role=None)
    assert decision == "no-go"
    assert missing == ["approvals (change-ticket, risk-signoff, compliance-memo)"]


def test_a_staging_ticket_is_never_downgraded_nor_promoted(app):
    key = open_ticket(app, env=Env.STAGING)
    _, env, missing = deploy(app, key)
    assert env is Env.STAGING and missing == []


def test_evidence_is_attached_only_by_its_owner_role(app):
    key = open_ticket(app)
    with pytest.raises(NotAuthorised, match="done by the Risk Officer, not the Dev Lead"):
        app.attach_evidence(key, check="risk-envelope", path="limits.yaml", sha256=FILE_SHA,
                            size=1, actor="dave.dev", role=Role.DEV_LEAD)
    with pytest.raises(NotAuthorised, match="needs the Risk Officer; the roster grants dave.dev dev-lead"):
        app.attach_evidence(key, check="risk-envelope", path="limits.yaml", sha256=FILE_SHA,
                            size=1, actor="dave.dev")
    assert len(app.ticket_events(key)) == 1  # nothing recorded
    # The aggregate keeps the rule too, whoever calls it.
    with pytest.raises(WrongRole, match="Risk Officer"):
        app.get_ticket(key).attach_evidence(check="risk-envelope", path="l.yaml",
                                            sha256=FILE_SHA, size=1, actor="dave.dev",
                                            role=Role.DEV_LEAD)


def test_cutover_gate_needs_two_distinct_people(app):
    key = open_ticket(app)
    # alice holds both signing roles, and still cannot sign twice.
    app.grant_role("alice.rm", Role.RISK_OFFICER, actor=ADMIN, reason="covers for bob")
    app.attach_evidence(key, check="prod-cutover", path="c.md", sha256=FILE_SHA, size=1,
                        actor="alice.rm", role=Role.RELEASE_MANAGER)
    with pytest.raises(SameSigner, match="two distinct people"):
        app.attach_evidence(key, check="prod-cutover", path="c.md", sha256=FILE_SHA, size=1,
                            actor="alice.rm", role=Role.RISK_OFFICER)
    assert "prod-cutover (signature of Risk Officer)" in app.get_ticket(key).missing_checks()
    app.attach_evidence(key, check="prod-cutover", path="c.md", sha256=FILE_SHA, size=1,
                        actor="bob.risk", role=Role.RISK_OFFICER)
    assert not any(m.startswith("prod-cutover") for m in app.get_ticket(key).missing_checks())


def test_superseded_evidence_no_longer_counts_and_is_kept(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    ticket = app.get_ticket(key)
    health = next(e for e, r in ticket.evidence.items() if r["check"] == "health-gate")
    with pytest.raises(ReasonRequired):
        app.supersede_evidence(key, evidence_id=health, reason=" ", actor="dave.dev",
                               role=Role.DEV_LEAD)
    app.supersede_evidence(key, evidence_id=health, reason="CI rerun failed", actor="dave.dev",
                           role=Role.DEV_LEAD)
    ticket = app.get_ticket(key)
    assert ticket.missing_checks() == ["health-gate"]
    assert ticket.evidence[health]["sha256"] == FILE_SHA  # the original is still on record
    with pytest.raises(EvidenceNotFound):
        app.supersede_evidence(key, evidence_id=health, reason="again", actor="dave.dev",
                               role=Role.DEV_LEAD)


def test_kill_needs_a_reason_and_engages_the_kill_switch(app):
    key = open_ticket(app)
    with pytest.raises(ReasonRequired, match="reason"):
        app.start_command(key, command=Command.KILL, argv=["tradepulse-cli", "kill"],
                          log_path="kill.log", actor=OPERATOR, role=Role.OPERATOR, reason="  ")
    run_id, _, _ = app.start_command(key, command=Command.KILL, argv=["k"], log_path="kill.log",
                                     actor=OPERATOR, role=Role.OPERATOR, reason="drift 2%")
    assert app.get_ticket(key).kill_reasons == ["drift 2%"]
    assert run_id in app.get_ticket(key).commands


def test_flag_must_mirror_the_intended_state_after_each_script(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    run_id, _, _ = deploy(app, key)
    finish(app, key, run_id)
    # The control plane never flipped live.enabled: the deploy did not go live.
    expected, observed, mirrors = app.observe_flag(key, run_id=run_id, actor=OPERATOR, role=None)
    assert (expected, observed, mirrors) == (True, None, False)
    assert app.get_ticket(key).flag_mismatches[0]["expected"] is True

    app.set_flag("live.enabled", value="on", actor=OPERATOR, role=None, reason="go", ticket=key)
    settle, _, _ = app.start_command(key, command=Command.SETTLE, argv=["s"], log_path="s.log",
                                     actor=OPERATOR, role=None)
    finish(app, key, settle)
    assert app.observe_flag(key, run_id=settle, actor=OPERATOR, role=None) == (False, True, False)
    app.set_flag("live.enabled", value="false", actor=OPERATOR, role=None, reason="stop",
                 ticket=key)
    validate, _, _ = app.start_command(key, command=Command.VALIDATE, argv=["v"],
                                       log_path="v.log", actor=OPERATOR, role=None)
    # validate is a dry-run: it intends nothing, so it cannot mismatch
    assert app.observe_flag(key, run_id=validate, actor=OPERATOR, role=None)[2] is True
    ticket = app.get_ticket(key)
    assert len(ticket.flag_mismatches) == 2 and ticket.settled


def test_downgraded_deploy_must_leave_live_trading_off(app):
    key = open_ticket(app)
    run_id, env, _ = deploy(app, key)
    assert env is Env.STAGING
    app.set_flag("live.enabled", value="true", actor=OPERATOR, role=None, reason="oops")
    assert app.observe_flag(key, run_id=run_id, actor=OPERATOR, role=None) == (False, True, False)


def test_commands_finish_once(app):
    key = open_ticket(app)
    run_id, _, _ = deploy(app, key)
    finish(app, key, run_id)
    with pytest.raises(CommandStateError):
        finish(app, key, run_id)
    with pytest.raises(CommandStateError):
        finish(app, key, "nope")


def test_a_ticket_closes_only_with_a_sealed_and_verified_archive(app):
    key = open_ticket(app)
    with pytest.raises(ArchiveRequired, match="no archive"):
        app.close_ticket(key, actor="alice.rm", role=Role.RELEASE_MANAGER)
    seal = dict(location="file:///a/CHG-2041.tar.zst", archive_sha256="e" * 64,
                archive_bytes=10, manifest_sha256="f" * 64, location_hash="0" * 64,
                file_count=3, missing=[], actor="alice.rm", role=None)
    app.record_seal(key, **seal)
    with pytest.raises(ArchiveRequired, match="not verified"):
        app.close_ticket(key, actor="alice.rm", role=Role.RELEASE_MANAGER)
    app.record_verification(key, location=seal["location"], archive_sha256="e" * 64, ok=False,
                            failures=["data/deploy.log: sha256 mismatch"], actor=OPERATOR, role=None)
    with pytest.raises(ArchiveRequired, match="failed verification"):
        app.close_ticket(key, actor="alice.rm", role=Role.RELEASE_MANAGER)
    app.record_verification(key, location=seal["location"], archive_sha256="e" * 64, ok=True,
                            failures=[], actor=OPERATOR, role=None)
    app.close_ticket(key, actor="alice.rm", role=Role.RELEASE_MANAGER)
    with pytest.raises(TicketClosedError):
        approve_all(app, key)


def test_verification_of_an_unknown_archive_is_refused(app):
    key = open_ticket(app)
    with pytest.raises(ArchiveRequired):
        app.record_verification(key, location="x", archive_sha256="1" * 64, ok=True,
                                failures=[], actor=OPERATOR, role=None)


def test_a_shift_is_accepted_only_after_all_four_steps(app):
    staff(app)
    day = date(2026, 11, 23)
    steps = list(ShiftStep)
    for step in steps[:-1]:
        attachment = ("shot.png", FILE_SHA, 10) if step is ShiftStep.HEARTBEAT_TESTED else None
        accepted, missing = app.log_shift_step(operator=OPERATOR, day=day, step=step,
                                               actor=OPERATOR, attachment=attachment)
        assert not accepted
    assert not app.get_shift(OPERATOR, day).accepted
    accepted, missing = app.log_shift_step(operator=OPERATOR, day=day, step=steps[-1],
                                           actor=OPERATOR)
    assert accepted and missing == []
    assert app.get_shift(OPERATOR, day).accepted


def test_heartbeat_step_needs_its_screenshot_and_only_the_operator_logs(app):
    staff(app)
    day = date(2026, 11, 23)
    with pytest.raises(InvalidInput, match="screenshot"):
        app.log_shift_step(operator=OPERATOR, day=day, step=ShiftStep.HEARTBEAT_TESTED,
                           actor=OPERATOR)
    with pytest.raises(WrongRole):
        # the trader may log shift steps, but only of a shift of their own
        app.log_shift_step(operator=OPERATOR, day=day, step=ShiftStep.TODO_REVIEWED,
                           actor=PEOPLE[Role.EXECUTION_TRADER])


def test_flag_trail_spans_tickets(app):
    first, second = open_ticket(app, "CHG-1"), open_ticket(app, "CHG-2")
    a, b = OPERATOR, PEOPLE[Role.EXECUTION_TRADER]
    app.set_flag("live.enabled", value="true", actor=a, role=None, reason="r1", ticket=first)
    app.set_flag("live.enabled", value="false", actor=b, role=None, reason="r2", ticket=second)
    assert app.set_flag("live.enabled", value="off", actor=b, role=None, reason="again")[2] \
        is False
    trail = [(c.old, c.new, c.actor, c.ticket) for c in app.flag_changes("live.enabled")]
    assert trail == [(None, "true", a, "CHG-1"), ("true", "false", b, "CHG-2")]
    with pytest.raises(NotFound):
        app.set_flag("live.enabled", value="true", actor=a, role=None, reason="r",
                      ticket="CHG-999")
    with pytest.raises(ReasonRequired):
        app.set_flag("other.flag", value="x", actor=a, role=None, reason="")


def test_a_breach_is_recorded_once(app):
    key = open_ticket(app)
    breach = {
        "breach_id": "b1", "rule": "latency", "metric": "metrics.execution.latency",
        "labels": {}, "threshold": 120.0, "unit": "ms", "comparison": "p95 < 120 ms",
        "observed": 150.0, "window_start": "2026-11-23T14:00:00Z", "window_end": None,
        "samples": 3, "severity": Severity.CRITICAL, "escalation": "Execution Trader",
        "source": "manual", "detail": "", "incident_ref": "INC-1",
    }
    assert app.record_breach(key, breach=breach, actor=OPERATOR, role=None) is True
    assert app.record_breach(key, breach=breach, actor=OPERATOR, role=None) is False
    assert len(app.get_ticket(key).breaches) == 1


def test_keys_and_digests_are_validated(app):
    staff(app)
    manager = PEOPLE[Role.RELEASE_MANAGER]
    with pytest.raises(InvalidInput):
        app.open_ticket(key="chg-1", strategy="s", env=Env.PROD, artifact_digest=DIGEST,
                        actor=manager, role=None)
    with pytest.raises(InvalidInput, match="digest"):
        app.open_ticket(key="CHG-1", strategy="s", env=Env.PROD, artifact_digest="abc",
                        actor=manager, role=None)
    with pytest.raises(NotFound):
        app.get_ticket("CHG-404")
    open_ticket(app, "CHG-1")
    with pytest.raises(AlreadyExists):
        open_ticket(app, "CHG-1")
