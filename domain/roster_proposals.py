"""Four eyes on the roster's administrators (issue 12).

Making or unmaking an administrator, or changing any role of someone who is
one, does not take effect when an administrator asks for it: it is recorded
as a proposal, and takes effect when a *different* administrator confirms it.
The proposer cannot confirm, nor can the person the proposal is about. So one
administrator alone can neither appoint a second name they control (a sock
puppet who would then grant them any role), nor quietly remove a colleague.

Consequences, intended:
- a desk needs two administrators to change administrators: with one, nobody
  can confirm (the founder alone cannot appoint a second administrator);
- a runbook role for an administrator needs a third administrator (the
  proposer and the person concerned may not confirm);
- a proposal made by someone who is no longer an administrator lapses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from opsledger.domain.errors import RosterRuleError
from opsledger.domain.runbook import Role

Change = Literal["grant", "revoke"]


class UnknownProposal(RosterRuleError):
    """No proposal has that id."""


class ProposalAlreadyApplied(RosterRuleError):
    """A proposal is confirmed once; it has taken effect already."""


class ProposerCannotConfirm(RosterRuleError):
    """Four eyes: the administrator who proposed a change is not the one who confirms it."""


class SelfConfirmation(RosterRuleError):
    """Nobody confirms a change of their own roles."""


class ProposalLapsed(RosterRuleError):
    """The proposer is no longer an administrator: their proposal no longer stands."""


@dataclass(frozen=True)
class Proposal:
    """A role change waiting for a second administrator."""

    id: str
    person: str
    role: Role
    change: Change
    proposer: str
    reason: str
    confirmed_by: str | None = None
    confirm_reason: str | None = None

    @property
    def pending(self) -> bool:
        return self.confirmed_by is None

    def confirmed(self, by: str, reason: str) -> Proposal:
        return replace(self, confirmed_by=by, confirm_reason=reason)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "person": self.person,
            "role": self.role.value,
            "change": self.change,
            "proposer": self.proposer,
            "reason": self.reason,
            "status": "pending" if self.pending else "applied",
            "confirmed_by": self.confirmed_by,
        }


def needs_second_administrator(role: Role, person_roles: set[Role]) -> bool:
    """Administrator role changes, and any change to an administrator, are proposals."""
    return role is Role.ADMINISTRATOR or Role.ADMINISTRATOR in person_roles


def check_confirmation(proposal: Proposal | None, proposal_id: str, actor: str,
                       proposer_is_admin: bool) -> Proposal:
    """The rules a confirmation obeys, beyond being an administrator."""
    if proposal is None:
        raise UnknownProposal(proposal_id, "no such proposal (see `roster proposals`)")
    if not proposal.pending:
        raise ProposalAlreadyApplied(
            proposal_id, f"already confirmed by {proposal.confirmed_by}; it has taken effect"
        )
    if actor == proposal.proposer:
        raise ProposerCannotConfirm(
            actor, f"{actor} proposed {proposal_id}: a different administrator confirms it"
        )
    if actor == proposal.person:
        raise SelfConfirmation(
            actor, f"{proposal_id} changes {actor}'s own roles: another administrator confirms it"
        )
    if not proposer_is_admin:
        raise ProposalLapsed(
            proposal_id, f"{proposal.proposer} is no longer an administrator: propose it again"
        )
    return proposal
