"""The roster: who holds which runbook role, kept as events.

A role typed on a command line proves nothing. Authority comes from here
instead: an administrator grants and revokes roles, each change is an event
with who made it and why, so the roster is audited like everything else.
Evidence, approvals and the launch and halt scripts ask the roster at the
moment they are recorded, and the event names the roster version it was
checked against, so an auditor can replay the check.

Rules, after the usual separation of duties:
- the roster is founded once, naming its first administrator;
- only an administrator grants or revokes, and never to or from themselves
  (nobody hands themselves the Risk Officer's pen; the first administrator
  needs a second to be given a runbook role);
- so an administrator is only ever removed by another one: the roster always
  keeps one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event
from opsledger.domain.errors import InvalidInput, NotAuthorised, ReasonRequired, RosterRuleError
from opsledger.domain.model import Aggregate, Created, derive_id
from opsledger.domain.runbook import Role
from opsledger.domain.ticket import validate_text

# A person is named as they log in: no spaces, no line breaks.
PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
ROSTER_SUBJECT = "roster"


def roster_id() -> UUID:
    return derive_id("roster", "desk")


def validate_person(name: str) -> str:
    if not isinstance(name, str) or not PERSON.match(name):
        raise InvalidInput(
            repr(name), "not a person's name (a login name: letters, digits, . _ @ + -)"
        )
    return name


class Roster(Aggregate):
    TOPIC = "opsledger.roster"

    class Founded(Created):
        TOPIC: ClassVar[str] = "opsledger.roster.Founded"
        administrator: str
        actor: str
        reason: str

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

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return roster_id()

    @classmethod
    def found(cls, *, administrator: str, actor: str, reason: str) -> Roster:
        validate_person(administrator)
        validate_person(actor)
        _require_reason(reason)
        return cls(administrator=administrator, actor=actor, reason=reason)

    @event(Founded)
    def __init__(self, *, administrator: str, actor: str, reason: str) -> None:
        self.holdings: dict[str, set[Role]] = {administrator: {Role.ADMINISTRATOR}}

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
                    actor, f"{what} is done by the {_either(allowed)}, not the {role.title}"
                )
            self.confirm(actor, role)
            return role
        usable = [r for r in allowed if r in held]
        if len(usable) == 1:
            return usable[0]
        if not usable:
            granted = ", ".join(sorted(r.value for r in held)) or "no role"
            raise NotAuthorised(
                actor, f"{what} needs the {_either(allowed)}; the roster grants {actor} {granted}"
            )
        raise InvalidInput(
            actor,
            f"{actor} holds {' and '.join(r.value for r in usable)}: pass --role to say which",
        )

    def confirm(self, actor: str, role: Role) -> None:
        """A role named on a command that any role may run must still be held."""
        if role not in self.roles_of(actor):
            raise NotAuthorised(actor, f"the roster does not grant {actor} the {role.title} role")

    # --- changes -----------------------------------------------------------------------

    def grant(self, *, person: str, role: Role, actor: str, reason: str) -> bool:
        """Records a grant; False (nothing recorded) when the role is already held."""
        self._require_administrator(actor, "grant roles")
        validate_person(person)
        _require_reason(reason)
        if person == actor:
            raise RosterRuleError(
                actor, "an administrator cannot grant a role to themselves; ask another"
            )
        if role in self.roles_of(person):
            return False
        self._grant(person=person, role=Role(role), actor=actor, reason=reason)
        return True

    @event(RoleGranted)
    def _grant(self, person: str, role: Role, actor: str, reason: str) -> None:
        self.holdings.setdefault(person, set()).add(Role(role))

    def revoke(self, *, person: str, role: Role, actor: str, reason: str) -> bool:
        """Records a revocation; False (nothing recorded) when the role is not held."""
        self._require_administrator(actor, "revoke roles")
        validate_person(person)
        _require_reason(reason)
        if person == actor:
            raise RosterRuleError(
                actor, "an administrator cannot revoke their own roles; ask another"
            )
        if role not in self.roles_of(person):
            return False
        self._revoke(person=person, role=Role(role), actor=actor, reason=reason)
        return True

    @event(RoleRevoked)
    def _revoke(self, person: str, role: Role, actor: str, reason: str) -> None:
        roles = self.holdings[person]
        roles.discard(Role(role))
        if not roles:
            del self.holdings[person]

    def _require_administrator(self, actor: str, what: str) -> None:
        if Role.ADMINISTRATOR not in self.roles_of(actor):
            raise NotAuthorised(actor, f"only an administrator may {what}")


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ReasonRequired(ROSTER_SUBJECT, "a roster change needs a --reason for the record")
    validate_text(ROSTER_SUBJECT, "reason", reason, limit=500)


def _either(roles: tuple[Role, ...]) -> str:
    titles = [r.title for r in roles]
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} or {titles[-1]}"


@dataclass(frozen=True)
class AuthorityFinding:
    """An event whose authority does not replay cleanly against the roster."""

    position: int | None
    ticket: str
    event: str
    actor: str
    role: str | None
    roster_version: int | None
    problem: str


class RosterHistory:
    """The roster at every version, replayed once, to re-check past events."""

    def __init__(self, events: Iterable[Roster.Event]) -> None:
        self._held: list[dict[str, frozenset[Role]]] = []
        self._at: list[datetime] = []
        roster: Roster | None = None
        for change in events:
            roster = change.mutate(roster)
            self._held.append({p: frozenset(r) for p, r in roster.holdings.items()})
            self._at.append(change.timestamp)

    def check(self, actor: str, role: Role | None, version: int | None, when: datetime) -> str:
        """Why the event fails to replay, or '' when the roster allowed it then."""
        if version is None:
            return "recorded without a roster check"
        if not 1 <= version <= len(self._held):
            return f"names roster version {version}, which was never recorded"
        if self._at[version - 1] > when:
            return f"names roster version {version}, recorded after the event"
        if role is None or role not in self._held[version - 1].get(actor, ()):
            return f"the roster at version {version} did not grant {actor} the {role} role"
        later = [v for v in range(version + 1, len(self._held) + 1) if self._at[v - 1] <= when]
        if later and role not in self._held[later[-1] - 1].get(actor, ()):
            return (f"the role was revoked at roster version {later[-1]}, "
                    "before the event was recorded")
        return ""
