"""The roster at every version, replayed once, to re-check past events
(the live `roster audit` and `archive verify` alike).

Roles take effect when they are recorded as held: a grant at its RoleGranted,
a change needing two administrators at its ProposalConfirmed, never at the
proposal. Keys carry their own windows, so the roster as it stands at the
end answers for every moment (`authenticate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from opsledger.domain.runbook import Role

if TYPE_CHECKING:
    from opsledger.domain.roster import Roster


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
        self.roster = roster  # the last version (None: no roster)

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

    def person_of_key(self, fingerprint: str) -> str | None:
        return self.roster.person_of_key(fingerprint) if self.roster else None

    def authenticate(self, person: str, public_key: bytes, at: datetime) -> None:
        """As Roster.authenticate, against the whole history (every key's window)."""
        from opsledger.domain.roster_keys import KeyNotValid

        if self.roster is None:
            raise KeyNotValid(person, "no roster was recorded")
        self.roster.authenticate(person, public_key, at)
