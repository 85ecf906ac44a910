"""Authority comes from the roster, checked at the moment of each event."""

from __future__ import annotations

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotAuthorised,
    NotFound,
    ReasonRequired,
    RosterRuleError,
)
from opsledger.domain.runbook import Approval, Command, Env, Role
from opsledger.domain.ticket import Ticket
from story import ADMIN, FILE_SHA, PEOPLE, approve_all, attach_all, open_ticket, staff

RISK = PEOPLE[Role.RISK_OFFICER]
TRADER = PEOPLE[Role.EXECUTION_TRADER]


@pytest.fixture
def app() -> OpsLedger:
    return OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def attach_limits(app: OpsLedger, key: str, actor: str, role: Role | None = None) -> str:
    return app.attach_evidence(key, check="risk-envelope", path="limits.yaml", sha256=FILE_SHA,
                               size=1, actor=actor, role=role)


def test_before_a_roster_is_founded_nobody_holds_a_role(app):
    with pytest.raises(NotAuthorised, match="no roster has been founded"):
        app.open_ticket(key="CHG-1", strategy="s", env=Env.PROD,
                        artifact_digest="sha256:" + "ab" * 32, actor="alice", role=None)
    with pytest.raises(NotFound, match="no roster"):
        app.get_roster()
    with pytest.raises(NotFound):
        app.get_ticket("CHG-1")  # nothing was recorded


def test_the_roster_is_founded_once_and_its_founder_is_the_administrator(app):
    app.found_roster(administrator="root", actor="root", reason="desk set up")
    with pytest.raises(AlreadyExists):
        app.found_roster(administrator="mallory", actor="mallory", reason="take over")
    assert app.get_roster().holders(Role.ADMINISTRATOR) == ["root"]
    with pytest.raises(ReasonRequired):
        app.grant_role("bob", Role.RISK_OFFICER, actor="root", reason="  ")
    with pytest.raises(InvalidInput, match="person"):
        app.grant_role("bob smith\n", Role.RISK_OFFICER, actor="root", reason="hired")


def legacy_administrators(app: OpsLedger, *names: str, by: str = "root") -> None:
    """Administrators appointed in a store written before four eyes: each a plain
    RoleGranted event, as opsledger 0.1 recorded it (the only way to reach two
    administrators without a second one confirming)."""
    roster = app.get_roster()
    for name in names:
        roster._grant(person=name, role=Role.ADMINISTRATOR, actor=by, reason="before four eyes")
    app.save(roster)


def test_only_an_administrator_grants_and_never_to_themselves(app):
    app.found_roster(administrator="root", actor="root", reason="desk set up")
    with pytest.raises(NotAuthorised, match="only an administrator"):
        app.grant_role("bob", Role.RISK_OFFICER, actor="bob", reason="I am risk now")
    with pytest.raises(RosterRuleError, match="themselves"):
        app.grant_role("root", Role.RISK_OFFICER, actor="root", reason="short-staffed")
    assert app.grant_role("bob", Role.RISK_OFFICER, actor="root", reason="rota") is True
    assert app.grant_role("bob", Role.RISK_OFFICER, actor="root", reason="again") is False
    # A runbook role for an administrator takes a third one: neither the proposer
    # nor the person concerned may confirm it.
    legacy_administrators(app, "ann", "cid")
    proposal = app.grant_role("root", Role.RISK_OFFICER, actor="ann", reason="covers risk")
    assert proposal == "P5" and Role.RISK_OFFICER not in app.get_roster().roles_of("root")
    assert app.grant_role("root", Role.RISK_OFFICER, actor="ann", reason="again") == proposal
    app.confirm_proposal(proposal, actor="cid", reason="agreed at stand-up")
    assert app.get_roster().roles_of("root") == {Role.ADMINISTRATOR, Role.RISK_OFFICER}
    assert app.grant_role("root", Role.RISK_OFFICER, actor="ann", reason="again") is False
    # Every change is on the record, with who made it and why.
    changes = [(type(e).__name__, getattr(e, "person", None), e.actor, e.reason)
               for e in app.roster_events()]
    assert changes == [
        ("Founded", None, "root", "desk set up"),
        ("RoleGranted", "bob", "root", "rota"),
        ("RoleGranted", "ann", "root", "before four eyes"),
        ("RoleGranted", "cid", "root", "before four eyes"),
        ("GrantProposed", "root", "ann", "covers risk"),
        ("ProposalConfirmed", "root", "cid", "agreed at stand-up"),
    ]


def test_administrators_are_removed_only_by_two_others_so_two_always_remain(app):
    app.found_roster(administrator="root", actor="root", reason="desk set up")
    legacy_administrators(app, "ann", "cid")
    p = app.revoke_role("ann", Role.ADMINISTRATOR, actor="root", reason="left the desk")
    assert app.get_roster().holders(Role.ADMINISTRATOR) == ["ann", "cid", "root"]
    with pytest.raises(RosterRuleError, match="own roles"):
        app.confirm_proposal(p, actor="ann", reason="fine by me")
    app.confirm_proposal(p, actor="cid", reason="agreed")
    assert app.get_roster().holders(Role.ADMINISTRATOR) == ["cid", "root"]
    with pytest.raises(RosterRuleError, match="themselves|own"):
        app.revoke_role("root", Role.ADMINISTRATOR, actor="root", reason="leaving")
    with pytest.raises(NotAuthorised, match="only an administrator"):
        app.grant_role("bob", Role.DEV_LEAD, actor="ann", reason="x")
    # With two administrators, neither can remove the other: the proposer may not
    # confirm, and the person concerned may not either.
    p = app.revoke_role("root", Role.ADMINISTRATOR, actor="cid", reason="root retires")
    for actor in ("cid", "root"):
        with pytest.raises(RosterRuleError):
            app.confirm_proposal(p, actor=actor, reason="go")
    assert app.get_roster().holders(Role.ADMINISTRATOR) == ["cid", "root"]
    assert not app.revoke_role("bob", Role.DEV_LEAD, actor="cid", reason="never had it")
    with pytest.raises(RosterRuleError, match="own roles"):
        app.revoke_role("cid", Role.ADMINISTRATOR, actor="cid", reason="quitting")


def test_a_role_typed_on_the_command_line_is_not_authority(app):
    key = open_ticket(app)
    mallory = "mallory"
    for role in (Role.RISK_OFFICER, None):
        with pytest.raises(NotAuthorised):
            attach_limits(app, key, mallory, role)
    with pytest.raises(NotAuthorised, match="risk-signoff"):
        app.approve(key, approval=Approval.RISK_SIGNOFF, reference="r", actor=mallory)
    with pytest.raises(NotAuthorised):
        app.approve(key, approval=Approval.RISK_SIGNOFF, reference="r", actor=mallory,
                    role=Role.RISK_OFFICER)
    # A role named on a command any role may run is checked as well, never just recorded.
    with pytest.raises(NotAuthorised, match="does not grant mallory the Risk Officer"):
        app.evaluate_gate(key, actor=mallory, role=Role.RISK_OFFICER)
    assert [type(e).__name__ for e in app.ticket_events(key)] == ["Opened"]


def test_the_role_comes_from_the_roster_and_the_event_names_the_roster_version(app):
    key = open_ticket(app)
    evidence = attach_limits(app, key, RISK)  # no --role: the roster says Risk Officer
    event = app.ticket_events(key)[-1]
    assert isinstance(event, Ticket.EvidenceAttached) and event.evidence_id == evidence
    assert event.role is Role.RISK_OFFICER
    # An auditor replays the check against the roster as it stood then.
    then = app.get_roster(version=event.roster_version)
    assert Role.RISK_OFFICER in then.roles_of(RISK)


def test_a_revoked_role_stops_at_once_and_what_was_recorded_stands(app):
    key = open_ticket(app)
    attach_limits(app, key, RISK)
    version_before = app.get_roster().version
    app.revoke_role(RISK, Role.RISK_OFFICER, actor=ADMIN, reason="moved to another desk")
    with pytest.raises(NotAuthorised, match="needs the Risk Officer; the roster grants bob.risk no role"):
        app.approve(key, approval=Approval.RISK_SIGNOFF, reference="r", actor=RISK)
    ticket = app.get_ticket(key)
    assert [r["actor"] for r in ticket.evidence.values()] == [RISK]
    assert Role.RISK_OFFICER in app.get_roster(version=version_before).roles_of(RISK)
    assert Role.RISK_OFFICER not in app.get_roster().roles_of(RISK)


def test_someone_holding_two_allowed_roles_says_which(app):
    key = open_ticket(app)
    app.grant_role(RISK, Role.RELEASE_MANAGER, actor=ADMIN, reason="acting RM this week")
    with pytest.raises(InvalidInput, match="pass --role"):
        app.attach_evidence(key, check="prod-cutover", path="c.md", sha256=FILE_SHA, size=1,
                            actor=RISK)
    app.attach_evidence(key, check="prod-cutover", path="c.md", sha256=FILE_SHA, size=1,
                        actor=RISK, role=Role.RISK_OFFICER)
    assert app.ticket_events(key)[-1].role is Role.RISK_OFFICER


def test_superseding_evidence_is_for_the_checks_owners(app):
    key = open_ticket(app)
    evidence = attach_limits(app, key, RISK)
    with pytest.raises(NotAuthorised, match="superseding evidence for 'risk-envelope'"):
        app.supersede_evidence(key, evidence_id=evidence, reason="wrong file",
                               actor=PEOPLE[Role.DEV_LEAD])
    app.supersede_evidence(key, evidence_id=evidence, reason="wrong file", actor=RISK)
    assert app.get_ticket(key).evidence[evidence]["superseded"]["actor"] == RISK


def test_the_kill_switch_checks_the_roster(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    with pytest.raises(NotAuthorised, match="kill needs the Operator, Execution Trader, Risk Officer, Incident Commander or SRE Captain"):
        app.start_command(key, command=Command.KILL, argv=["kill"], log_path="kill.log",
                          actor=PEOPLE[Role.DEV_LEAD], role=None, reason="panic")
    with pytest.raises(NotAuthorised, match="deploy is done by the Operator or Release Manager, not the Execution Trader"):
        app.start_command(key, command=Command.DEPLOY, argv=["deploy"], log_path="d.log",
                          actor=TRADER, role=Role.EXECUTION_TRADER)
    run_id, _, _ = app.start_command(key, command=Command.KILL, argv=["kill"],
                                     log_path="kill.log", actor=TRADER, role=None,
                                     reason="drift 0.9%")
    started, engaged = app.ticket_events(key)[-2:]
    assert isinstance(engaged, Ticket.KillSwitchEngaged) and engaged.run_id == run_id
    assert started.role is engaged.role is Role.EXECUTION_TRADER
    assert engaged.roster_version == app.get_roster().version


def test_staffing_twice_changes_nothing(app):
    staff(app)
    version = app.get_roster().version
    staff(app)
    assert app.get_roster().version == version == 1 + len(PEOPLE)


def test_an_audit_replays_every_checked_event_against_the_roster_it_names(app):
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    checked, findings = app.audit_authority()
    assert (checked, findings) == (8 + 3, [])  # eight signatures (cutover has two), three approvals

    # Written around the application: no roster check, or a role never granted.
    ticket = app.get_ticket(key)
    ticket.approve(approval=Approval.COMPLIANCE_MEMO, reference="r", actor="mallory",
                   role=Role.COMPLIANCE_OFFICER)
    ticket.attach_evidence(check="health-gate", path="t.md", sha256=FILE_SHA, size=1,
                           actor="mallory", role=Role.DEV_LEAD,
                           roster_version=app.get_roster().version)
    app.save(ticket)
    _, findings = app.audit_authority()
    assert [(f.event, f.actor, f.problem) for f in findings] == [
        ("ApprovalGiven", "mallory", "recorded without a roster check"),
        ("EvidenceAttached", "mallory",
         f"the roster at version {app.get_roster().version} did not grant mallory the "
         "dev-lead role"),
    ]
    assert all(f.ticket == key for f in findings)


def test_an_audit_finds_a_revocation_that_overtook_the_check(app):
    key = open_ticket(app)
    ticket = app.get_ticket(key)
    checked_at = app.get_roster().version  # the check reads the roster...
    app.revoke_role(RISK, Role.RISK_OFFICER, actor=ADMIN, reason="left")  # ...a revoke lands...
    ticket.attach_evidence(check="risk-envelope", path="l.yaml", sha256=FILE_SHA, size=1,
                           actor=RISK, role=Role.RISK_OFFICER, roster_version=checked_at)
    app.save(ticket)  # ...and the event is saved after it
    _, findings = app.audit_authority()
    assert [f.problem for f in findings] == [
        f"the role was revoked at roster version {checked_at + 1}, before the event was recorded"
    ]
