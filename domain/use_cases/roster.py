"""The roster's use cases: founding it, granting and revoking roles (with a
second administrator's confirmation where four eyes are due), adding and
revoking people's SSH keys, and the authority every checked command asks of
it at the moment it is recorded."""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from opsledger.domain.errors import AlreadyExists, NotAuthorised, NotFound
from opsledger.domain.roster import (
    AuthorityFinding,
    Roster,
    RosterHistory,
    roster_id,
    validate_person,
)
from opsledger.domain.roster_proposals import Proposal
from opsledger.domain.runbook import Role
from opsledger.domain.ticket import AUTHORISED_EVENTS, ticket_id
from opsledger.domain.use_cases.base import UseCases


class RosterUseCases(UseCases):
    def _roster_for(self, actor: str) -> Roster:
        try:
            return self.repository.get(roster_id())
        except AggregateNotFoundError:
            raise NotAuthorised(
                actor, "no roster has been founded yet, so nobody holds a role"
            ) from None

    def _authorise(
        self, actor: str, allowed: tuple[Role, ...], role: Role | None, what: str
    ) -> tuple[Role, int]:
        """The role the roster grants `actor` for `what`, and the roster version
        that said so. Called inside a command, so a retry asks again."""
        roster = self._roster_for(actor)
        return roster.authorise(actor, allowed, role, what), roster.version

    def _confirm(self, actor: str, role: Role | None) -> None:
        """A role named on a command any role may run is checked, never just recorded."""
        if role is not None:
            self._roster_for(actor).confirm(actor, role)

    def found_roster(
        self,
        *,
        administrator: str,
        actor: str,
        reason: str,
        public_key: str | None = None,
        second_administrator: str | None = None,
        second_public_key: str | None = None,
    ) -> None:
        """Founds the roster once; `public_key` (a .pub line) is the administrator's
        first key, valid from the founding; a second administrator and key make
        a desk whose administrators can later be changed (that takes two)."""
        roster = Roster.found(
            administrator=administrator, actor=actor, reason=reason, public_key=public_key,
            second_administrator=second_administrator, second_public_key=second_public_key,
        )
        try:
            self.save(roster)
        except IntegrityError:
            raise AlreadyExists("roster", "the roster was founded before") from None

    def grant_role(self, person: str, role: Role, *, actor: str, reason: str) -> bool | str:
        """True when recorded, False when `person` already held the role, a proposal
        id when it awaits a second administrator (`confirm_proposal`)."""
        validate_person(person)
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.grant(person=person, role=role, actor=actor, reason=reason),
        )

    def revoke_role(self, person: str, role: Role, *, actor: str, reason: str) -> bool | str:
        """True when recorded, False when `person` did not hold the role, a proposal
        id when it awaits a second administrator (`confirm_proposal`)."""
        validate_person(person)
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.revoke(person=person, role=role, actor=actor, reason=reason),
        )

    def confirm_proposal(self, proposal_id: str, *, actor: str, reason: str) -> Proposal:
        """A second administrator confirms a proposed role change: it takes effect now."""
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.confirm_proposal(proposal_id, actor=actor, reason=reason),
        )

    def add_key(self, person: str, *, public_key: str, actor: str, reason: str) -> str:
        """Adds `person`'s SSH key (a .pub line), valid from now; returns its fingerprint."""
        validate_person(person)
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.add_key(person=person, public_key=public_key, actor=actor,
                                reason=reason),
        )

    def revoke_key(self, person: str, *, fingerprint: str, actor: str, reason: str) -> bool:
        """Closes the key's window now; False when it was revoked already."""
        validate_person(person)
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.revoke_key(person=person, fingerprint=fingerprint, actor=actor,
                                   reason=reason),
        )

    def get_roster(self, version: int | None = None) -> Roster:
        """The roster now, or as it stood at `version` (to replay a past check)."""
        try:
            return self.repository.get(roster_id(), version=version)
        except AggregateNotFoundError:
            raise NotFound("roster", "no roster has been founded yet") from None

    def audit_authority(self) -> tuple[int, list[AuthorityFinding]]:
        """Replays every roster-checked event against the roster as it stood
        when it was recorded. Returns (events checked, findings); a finding is
        an event with no check, a version that did not grant the role, or one
        overtaken by a revocation before the event was saved (the window
        between reading the roster and saving the ticket)."""
        history = RosterHistory(self.repository.event_store.get(roster_id()))
        keys = {ticket_id(key): key for key in self.ticket_keys()}
        checked, findings = 0, []
        for n in self.notifications(topics=[cls.TOPIC for cls in AUTHORISED_EVENTS]):
            event = self.mapper.to_domain_event(n)
            checked += 1
            problem = history.check(event.actor, event.role, event.roster_version, event.timestamp)
            if problem:
                findings.append(
                    AuthorityFinding(
                        position=n.id,
                        ticket=keys.get(event.originator_id, str(event.originator_id)),
                        event=type(event).__name__,
                        actor=event.actor,
                        role=event.role.value if event.role else None,
                        roster_version=event.roster_version,
                        problem=problem,
                    )
                )
        return checked, findings

    def roster_events(self) -> list[Roster.Event]:
        events = list(self.repository.event_store.get(roster_id()))
        if not events:
            raise NotFound("roster", "no roster has been founded yet")
        return events
