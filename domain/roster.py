"""The roster: who holds which runbook role, kept as events.

A role typed on a command line proves nothing. Authority comes from here
instead: an administrator grants and revokes roles, each change is an event
with who made it and why, so the roster is audited like everything else.
Evidence, approvals and the launch and halt scripts ask the roster at the
moment they are recorded, and the event names the roster version it was
checked against, so an auditor can replay the check.

Rules, after the usual separation of duties: the roster is founded once, by
its (two) administrators; only an administrator grants or revokes, never to or
from themselves; changing administrators, or any role of an administrator,
takes two of them, one proposing and another confirming (roster_proposals);
each person signs with their own SSH keys, added and revoked by an
administrator, each valid inside its window (roster_keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from eventsourcing.domain import event
from opsledger.domain.errors import InvalidInput, NotAuthorised, ReasonRequired, RosterRuleError
from opsledger.domain.model import Aggregate, Created, derive_id, utcnow
from opsledger.domain.roster_history import AuthorityFinding, RosterHistory
from opsledger.domain.roster_keys import (
    KeyHeldByAnother,
    KeyNotFound,
    KeyRecord,
    RevokedKeyReused,
    SelfKeyRegistration,
    accepted_key,
    allowed_signers,
    first_key,
    founding_keys,
)
from opsledger.domain.roster_keys import authenticate as _authenticate
from opsledger.domain.roster_proposals import (
    Change,
    Proposal,
    check_confirmation,
    needs_second_administrator,
)
from opsledger.domain.runbook import Role, either
from opsledger.domain.ticket import validate_text
from pydantic import AwareDatetime

# A person is named as they log in: no spaces, no line breaks.
PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
ROSTER_SUBJECT = "roster"

__all__ = ["AuthorityFinding", "Roster", "RosterHistory", "roster_id", "validate_person"]


def roster_id() -> UUID:
    return derive_id("roster", "desk")


def validate_person(name: str) -> str:
    if not isinstance(name, str) or not PERSON.fullmatch(name):
        raise InvalidInput(
            repr(name), "not a person's name (a login name: letters, digits, . _ @ + -)"
        )
    return name


class SelfGrant(RosterRuleError):
    """Nobody grants a role to, or revokes one from, themselves."""


class Roster(Aggregate):
    TOPIC = "opsledger.roster"

    class Founded(Created):
        TOPIC: ClassVar[str] = "opsledger.roster.Founded"
        administrator: str
        actor: str
        reason: str
        # The founder's first key. Absent, not null, in the stored form when there
        # is none: rosters founded before keys existed keep their exact bytes.
        public_key: str | None = None
        # A desk is founded by two administrators, so that administrators can
        # ever be changed (that takes two): the second and their first key.
        second_administrator: str | None = None
        second_public_key: str | None = None

        OMIT_WHEN_NONE: ClassVar[frozenset[str]] = Created.OMIT_WHEN_NONE | {
            "public_key", "second_administrator", "second_public_key"}

    class RoleGranted(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.roster.RoleGranted"
        person: str
        role: Role
        actor: str
        reason: str

    class RoleRevoked(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.roster.RoleRevoked"
        person: str
        role: Role
        actor: str
        reason: str

    class KeyAdded(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.roster.KeyAdded"
        person: str
        public_key: str
        key_type: str
        fingerprint: str
        valid_after: AwareDatetime
        actor: str
        reason: str

    class KeyRevoked(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.roster.KeyRevoked"
        person: str
        fingerprint: str
        valid_before: AwareDatetime
        actor: str
        reason: str

    class GrantProposed(Aggregate.Event):
        """A role change awaiting a second administrator; `actor` is the proposer."""

        TOPIC: ClassVar[str] = "opsledger.roster.GrantProposed"
        proposal_id: str
        person: str
        role: Role
        change: Literal["grant", "revoke"]
        actor: str
        reason: str

    class ProposalConfirmed(Aggregate.Event):
        """The second administrator (`actor`) confirms: the change takes effect now."""

        TOPIC: ClassVar[str] = "opsledger.roster.ProposalConfirmed"
        proposal_id: str
        person: str
        role: Role
        change: Literal["grant", "revoke"]
        proposer: str
        actor: str
        reason: str

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return roster_id()

    @classmethod
    def found(
        cls,
        *,
        administrator: str,
        actor: str,
        reason: str,
        public_key: str | None = None,
        second_administrator: str | None = None,
        second_public_key: str | None = None,
    ) -> Roster:
        """The first administrator (and optionally a second), each with their
        first key, valid from the founding."""
        validate_person(administrator)
        validate_person(actor)
        _require_reason(reason)
        line, second_line = founding_keys(actor, administrator, public_key,
                                          second_administrator, second_public_key)
        return cls(administrator=administrator, actor=actor, reason=reason, public_key=line,
                   second_administrator=second_administrator, second_public_key=second_line)

    @event(Founded)
    def __init__(
        self,
        *,
        administrator: str,
        actor: str,
        reason: str,
        public_key: str | None = None,
        second_administrator: str | None = None,
        second_public_key: str | None = None,
    ) -> None:
        self.holdings: dict[str, set[Role]] = {administrator: {Role.ADMINISTRATOR}}
        self.keys: dict[str, KeyRecord] = {}
        self.proposals: dict[str, Proposal] = {}
        founders = [(administrator, public_key)]
        if second_administrator is not None:
            self.holdings[second_administrator] = {Role.ADMINISTRATOR}
            founders.append((second_administrator, second_public_key))
        for person, line in founders:
            if line is not None:
                record = first_key(person, line, self.created_on, actor)
                self.keys[record.fingerprint] = record

    # --- questions ---------------------------------------------------------------------

    def roles_of(self, person: str) -> set[Role]:
        return set(self.holdings.get(person, ()))

    def holders(self, role: Role) -> list[str]:
        return sorted(p for p, roles in self.holdings.items() if role in roles)

    def authorise(
        self, actor: str, allowed: Iterable[Role], role: Role | None, what: str
    ) -> Role:
        """The role `actor` acts in for `what`, as the roster grants it now.

        `role` picks one when the actor holds several of the allowed roles;
        naming a role the roster does not grant is refused like acting
        without one, never recorded as a claim.
        """
        allowed = tuple(allowed)
        held = self.roles_of(actor)
        if role is not None:
            if role not in allowed:
                raise NotAuthorised(
                    actor, f"{what} is done by the {either(allowed)}, not the {role.title}"
                )
            self.confirm(actor, role)
            return role
        usable = [r for r in allowed if r in held]
        if len(usable) == 1:
            return usable[0]
        if not usable:
            granted = ", ".join(sorted(r.value for r in held)) or "no role"
            raise NotAuthorised(
                actor, f"{what} needs the {either(allowed)}; the roster grants {actor} {granted}"
            )
        raise InvalidInput(
            actor,
            f"{actor} holds {' and '.join(r.value for r in usable)}: pass --role to say which",
        )

    def confirm(self, actor: str, role: Role) -> None:
        """A role named on a command that any role may run must still be held."""
        if role not in self.roles_of(actor):
            raise NotAuthorised(actor, f"the roster does not grant {actor} the {role.title} role")

    def person_of_key(self, fingerprint: str) -> str | None:
        """Who holds (or held: a revoked key stays theirs) the key with this fingerprint."""
        record = self.keys.get(fingerprint)
        return record.person if record else None

    def keys_of(self, person: str) -> list[KeyRecord]:
        return [k for k in self.all_keys() if k.person == person]

    def all_keys(self) -> list[KeyRecord]:
        """Every key ever added, revoked ones included, with its window; oldest first."""
        return sorted(self.keys.values(), key=lambda k: (k.valid_after, k.fingerprint))

    def authenticate(self, person: str, public_key: bytes, at: datetime) -> None:
        """NotAuthorised (KeyNotValid) unless `person` holds the key whose blob is
        `public_key`, valid at `at` (valid_after <= at < valid_before). The blobs
        are compared, not only their fingerprints."""
        _authenticate(self.keys.values(), person, public_key, at)

    def allowed_signers(self) -> str:
        """The roster's keys as an OpenSSH allowed_signers file (`ssh-keygen -Y verify -f`)."""
        return allowed_signers(self.keys.values())

    def pending_proposals(self) -> list[Proposal]:
        return [p for p in self.proposals.values() if p.pending]

    # --- changes -----------------------------------------------------------------------

    def grant(self, *, person: str, role: Role, actor: str, reason: str) -> bool | str:
        """True: recorded; False: the role is already held (nothing recorded); a
        proposal id (str): it awaits a second administrator's confirmation."""
        self._require_administrator(actor, "grant roles")
        validate_person(person)
        _require_reason(reason)
        if person == actor:
            raise SelfGrant(
                actor, "an administrator cannot grant a role to themselves; ask another"
            )
        if role in self.roles_of(person):
            return False
        if needs_second_administrator(Role(role), self.roles_of(person)):
            return self._proposal(person, Role(role), "grant", actor, reason)
        self._grant(person=person, role=Role(role), actor=actor, reason=reason)
        return True

    @event(RoleGranted)
    def _grant(self, person: str, role: Role, actor: str, reason: str) -> None:
        self.holdings.setdefault(person, set()).add(Role(role))

    def revoke(self, *, person: str, role: Role, actor: str, reason: str) -> bool | str:
        """True: recorded; False: the role is not held (nothing recorded); a
        proposal id (str): it awaits a second administrator's confirmation."""
        self._require_administrator(actor, "revoke roles")
        validate_person(person)
        _require_reason(reason)
        if person == actor:
            raise SelfGrant(
                actor, "an administrator cannot revoke their own roles; ask another"
            )
        if role not in self.roles_of(person):
            return False
        if needs_second_administrator(Role(role), self.roles_of(person)):
            return self._proposal(person, Role(role), "revoke", actor, reason)
        self._revoke(person=person, role=Role(role), actor=actor, reason=reason)
        return True

    @event(RoleRevoked)
    def _revoke(self, person: str, role: Role, actor: str, reason: str) -> None:
        self._take(person, Role(role))

    def _take(self, person: str, role: Role) -> None:
        roles = self.holdings.get(person, set())
        roles.discard(role)
        if not roles:
            self.holdings.pop(person, None)

    def _proposal(self, person: str, role: Role, change: Change, actor: str, reason: str) -> str:
        """The id of the pending proposal for this change (the same change proposed
        twice is one proposal); its id names the roster version that records it."""
        for p in self.pending_proposals():
            if (p.person, p.role, p.change) == (person, role, change):
                return p.id
        proposal_id = f"P{self.version + 1}"
        self._propose(proposal_id=proposal_id, person=person, role=role, change=change,
                      actor=actor, reason=reason)
        return proposal_id

    @event(GrantProposed)
    def _propose(self, proposal_id: str, person: str, role: Role, change: Change, actor: str,
                 reason: str) -> None:
        self.proposals[proposal_id] = Proposal(proposal_id, person, Role(role), change, actor,
                                               reason)

    def confirm_proposal(self, proposal_id: str, *, actor: str, reason: str) -> Proposal:
        """A different administrator confirms; the change takes effect with this event."""
        self._require_administrator(actor, "confirm roster changes")
        _require_reason(reason)
        found = self.proposals.get(proposal_id)
        proposer_is_admin = found is not None and Role.ADMINISTRATOR in self.roles_of(found.proposer)
        p = check_confirmation(found, proposal_id, actor, proposer_is_admin)
        self._confirm_proposal(proposal_id=p.id, person=p.person, role=p.role, change=p.change,
                               proposer=p.proposer, actor=actor, reason=reason)
        return self.proposals[p.id]

    @event(ProposalConfirmed)
    def _confirm_proposal(self, proposal_id: str, person: str, role: Role, change: Change,
                          proposer: str, actor: str, reason: str) -> None:
        self.proposals[proposal_id] = self.proposals[proposal_id].confirmed(actor, reason)
        if change == "grant":
            self.holdings.setdefault(person, set()).add(Role(role))
        else:
            self._take(person, Role(role))

    def add_key(self, *, person: str, public_key: str, actor: str, reason: str) -> str:
        """Adds `person`'s key, valid from now; returns its fingerprint (nothing is
        recorded when the person holds it already). Never an administrator's own
        key, except the first key of a roster holding none (domain.roster_keys)."""
        self._require_administrator(actor, "add keys")
        validate_person(person)
        _require_reason(reason)
        key = accepted_key(public_key)
        held = self.keys.get(key.fingerprint)
        if held is not None:
            if held.person != person:
                raise KeyHeldByAnother(
                    person, f"the key {key.fingerprint} is {held.person}'s: a key is one person's"
                )
            if held.revoked:
                raise RevokedKeyReused(
                    person, f"the key {key.fingerprint} was revoked; make a new one"
                )
            return key.fingerprint
        if person == actor and self.keys:
            raise SelfKeyRegistration(
                actor, "an administrator cannot add a key to themselves; ask another "
                "(only a roster holding no key at all lets its administrator register their own)"
            )
        self._add_key(person=person, public_key=key.line(comment=False), key_type=key.key_type,
                      fingerprint=key.fingerprint, valid_after=utcnow(), actor=actor,
                      reason=reason)
        return key.fingerprint

    @event(KeyAdded)
    def _add_key(self, person: str, public_key: str, key_type: str, fingerprint: str,
                 valid_after: datetime, actor: str, reason: str) -> None:
        self.keys[fingerprint] = KeyRecord(person, public_key, key_type, fingerprint,
                                           valid_after, actor)

    def revoke_key(self, *, person: str, fingerprint: str, actor: str, reason: str) -> bool:
        """Closes the key's window now: it verifies what it signed before, nothing
        after. False (nothing recorded) when it was revoked already. An
        administrator may revoke their own key (a lost laptop is no time to wait)."""
        self._require_administrator(actor, "revoke keys")
        validate_person(person)
        _require_reason(reason)
        held = self.keys.get(fingerprint)
        if held is None or held.person != person:
            raise KeyNotFound(person, f"{person} holds no key {fingerprint} (see `roster keys`)")
        if held.revoked:
            return False
        self._revoke_key(person=person, fingerprint=fingerprint, valid_before=utcnow(),
                         actor=actor, reason=reason)
        return True

    @event(KeyRevoked)
    def _revoke_key(self, person: str, fingerprint: str, valid_before: datetime, actor: str,
                    reason: str) -> None:
        self.keys[fingerprint] = replace(self.keys[fingerprint], valid_before=valid_before,
                                         revoked_by=actor)

    def _require_administrator(self, actor: str, what: str) -> None:
        if Role.ADMINISTRATOR not in self.roles_of(actor):
            raise NotAuthorised(actor, f"only an administrator may {what}")


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ReasonRequired(ROSTER_SUBJECT, "a roster change needs a --reason for the record")
    validate_text(ROSTER_SUBJECT, "reason", reason, limit=500)

