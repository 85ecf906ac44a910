"""Four eyes on administrators: a proposal, then a different administrator confirms."""

from __future__ import annotations

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import NotAuthorised, RosterRuleError
from opsledger.domain.roster import Roster, RosterHistory
from opsledger.domain.roster_proposals import (
    ProposalAlreadyApplied,
    ProposalLapsed,
    ProposerCannotConfirm,
    SelfConfirmation,
    UnknownProposal,
)
from opsledger.domain.runbook import Role


@pytest.fixture
def app() -> OpsLedger:
    """alice founded the desk; bob and carol became administrators in a store
    written before four eyes (plain RoleGranted events)."""
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.found_roster(administrator="alice", actor="alice", reason="desk set up")
    roster = app.get_roster()
    for name in ("bob", "carol"):
        roster._grant(person=name, role=Role.ADMINISTRATOR, actor="alice", reason="before")
    app.save(roster)
    return app


def admins(app: OpsLedger) -> list[str]:
    return app.get_roster().holders(Role.ADMINISTRATOR)


def test_alice_grants_her_second_name_admin_only_a_second_administrator_makes_it_so(app):
    proposal = app.grant_role("alice2", Role.ADMINISTRATOR, actor="alice", reason="my spare")
    assert isinstance(proposal, str) and "alice2" not in admins(app)
    (pending,) = app.get_roster().pending_proposals()
    assert (pending.id, pending.person, pending.role, pending.change, pending.proposer) == (
        proposal, "alice2", Role.ADMINISTRATOR, "grant", "alice")
    with pytest.raises(ProposerCannotConfirm, match="a different administrator confirms it"):
        app.confirm_proposal(proposal, actor="alice", reason="obviously")
    assert "alice2" not in admins(app)
    confirmed = app.confirm_proposal(proposal, actor="bob", reason="checked with HR")
    assert confirmed.confirmed_by == "bob" and not confirmed.pending
    assert "alice2" in admins(app)
    assert app.get_roster().pending_proposals() == []
    event = app.roster_events()[-1]
    assert isinstance(event, Roster.ProposalConfirmed)
    assert (event.proposal_id, event.person, event.proposer, event.actor) == (
        proposal, "alice2", "alice", "bob")


def test_a_proposal_is_confirmed_once_and_only_if_it_exists(app):
    proposal = app.revoke_role("carol", Role.ADMINISTRATOR, actor="alice", reason="left")
    app.confirm_proposal(proposal, actor="bob", reason="yes")
    with pytest.raises(ProposalAlreadyApplied, match="already confirmed by bob"):
        app.confirm_proposal(proposal, actor="bob", reason="again")
    with pytest.raises(UnknownProposal):
        app.confirm_proposal("P99", actor="bob", reason="?")
    assert admins(app) == ["alice", "bob"]


def test_nobody_confirms_a_change_of_their_own_roles(app):
    proposal = app.grant_role("bob", Role.RISK_OFFICER, actor="alice", reason="covers risk")
    assert Role.RISK_OFFICER not in app.get_roster().roles_of("bob")
    with pytest.raises(SelfConfirmation, match="own roles"):
        app.confirm_proposal(proposal, actor="bob", reason="happy to")
    app.confirm_proposal(proposal, actor="carol", reason="agreed")
    assert Role.RISK_OFFICER in app.get_roster().roles_of("bob")


def test_only_an_administrator_confirms(app):
    app.grant_role("dave", Role.DEV_LEAD, actor="alice", reason="rota")  # direct: not an admin
    proposal = app.grant_role("erin", Role.ADMINISTRATOR, actor="alice", reason="new admin")
    with pytest.raises(NotAuthorised, match="only an administrator may confirm"):
        app.confirm_proposal(proposal, actor="dave", reason="sure")
    with pytest.raises(NotAuthorised):
        app.confirm_proposal(proposal, actor="erin", reason="me!")


def test_a_proposal_lapses_when_its_proposer_is_no_longer_an_administrator(app):
    proposal = app.grant_role("frank", Role.ADMINISTRATOR, actor="alice", reason="new admin")
    removal = app.revoke_role("alice", Role.ADMINISTRATOR, actor="bob", reason="left the desk")
    app.confirm_proposal(removal, actor="carol", reason="confirmed")
    with pytest.raises(ProposalLapsed, match="alice is no longer an administrator"):
        app.confirm_proposal(proposal, actor="bob", reason="late")
    assert "frank" not in admins(app)


def test_every_proposal_rule_is_a_roster_rule_error():
    for error in (UnknownProposal, ProposalAlreadyApplied, ProposerCannotConfirm,
                  SelfConfirmation, ProposalLapsed):
        assert issubclass(error, RosterRuleError)


def test_a_desk_with_one_administrator_cannot_change_administrators():
    """Intended: one administrator alone could appoint a second name they control."""
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.found_roster(administrator="root", actor="root", reason="desk set up")
    proposal = app.grant_role("ann", Role.ADMINISTRATOR, actor="root", reason="second admin")
    for actor, error in (("root", ProposerCannotConfirm), ("ann", NotAuthorised)):
        with pytest.raises(error):
            app.confirm_proposal(proposal, actor=actor, reason="go")
    assert app.get_roster().holders(Role.ADMINISTRATOR) == ["root"]
    # Runbook roles for people who are not administrators are granted at once, as before.
    assert app.grant_role("bob", Role.RISK_OFFICER, actor="root", reason="rota") is True


def test_the_same_change_proposed_twice_is_one_proposal(app):
    first = app.grant_role("gus", Role.ADMINISTRATOR, actor="alice", reason="new admin")
    version = app.get_roster().version
    assert app.grant_role("gus", Role.ADMINISTRATOR, actor="bob", reason="me too") == first
    assert app.get_roster().version == version
    other = app.revoke_role("bob", Role.ADMINISTRATOR, actor="alice", reason="x")
    assert other != first and len(app.get_roster().pending_proposals()) == 2


def test_the_audit_applies_a_role_at_its_confirmation_not_at_its_proposal(app):
    proposal = app.grant_role("bob", Role.RISK_OFFICER, actor="alice", reason="covers risk")
    proposed_at = app.get_roster().version
    app.confirm_proposal(proposal, actor="carol", reason="agreed")
    confirmed_at = app.get_roster().version
    events = app.roster_events()
    history = RosterHistory(events)
    when = events[-1].timestamp
    assert history.check("bob", Role.RISK_OFFICER, proposed_at, when) == (
        f"the roster at version {proposed_at} did not grant bob the risk-officer role")
    assert history.check("bob", Role.RISK_OFFICER, confirmed_at, when) == ""
