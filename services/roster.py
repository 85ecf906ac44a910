"""The roster: who holds which runbook role, granted and revoked by an administrator.

Authority comes from here: evidence, approvals and the launch and halt
scripts ask the roster when they are recorded. The roster is itself a record
of events, so every grant and revocation is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import Role

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


@dataclass(frozen=True)
class RoleChange:
    person: str
    role: Role
    actor: str
    recorded: bool  # False: the role was already in place, nothing recorded


ChangeCallback = Callable[[RoleChange], None]


def found_roster(services: Services, *, administrator: str, actor: str, reason: str) -> str:
    """Founds the roster, once; returns its first administrator."""
    services.app.found_roster(administrator=administrator, actor=actor, reason=reason)
    return administrator


def grant_roles(
    services: Services,
    person: str,
    roles: Iterable[Role],
    *,
    actor: str,
    reason: str,
    progress: ChangeCallback | None = None,
) -> list[RoleChange]:
    """Grants each role in turn (administrators only, never to themselves)."""
    return _change(services.app.grant_role, person, roles, actor, reason, progress)


def revoke_roles(
    services: Services,
    person: str,
    roles: Iterable[Role],
    *,
    actor: str,
    reason: str,
    progress: ChangeCallback | None = None,
) -> list[RoleChange]:
    """Revokes each role in turn; what the person recorded before stands."""
    return _change(services.app.revoke_role, person, roles, actor, reason, progress)


def _change(
    record: Callable[..., bool],
    person: str,
    roles: Iterable[Role],
    actor: str,
    reason: str,
    progress: ChangeCallback | None,
) -> list[RoleChange]:
    """One event per role, each reported to `progress` as soon as it is recorded
    (a later refusal leaves the earlier ones recorded); a role already in place
    records nothing."""
    changes = []
    for role in roles:
        change = RoleChange(person, role, actor, record(person, role, actor=actor, reason=reason))
        changes.append(change)
        if progress is not None:
            progress(change)
    return changes


def roster_holdings(services: Services, at_version: int | None = None) -> dict[str, Any]:
    """Who holds which role, now or as the roster stood at `at_version`.

    The document's "version" is the version found: less than `at_version`
    when the roster has not reached it yet."""
    roster = services.app.get_roster(version=at_version)
    people = {person: sorted(r.value for r in roles) for person, roles in roster.holdings.items()}
    return {"version": roster.version, "people": dict(sorted(people.items()))}


_CHANGE = {"Founded": "founded", "RoleGranted": "granted"}


def roster_history(services: Services) -> list[dict[str, Any]]:
    """Every roster change, oldest first: who granted or revoked what, and why."""
    rows: list[dict[str, Any]] = []
    for event in services.app.roster_events():
        rows.append(
            {
                "version": event.originator_version,
                "at": event.timestamp,
                "change": _CHANGE.get(type(event).__name__, "revoked"),
                "person": getattr(event, "person", None) or event.administrator,
                "role": getattr(event, "role", Role.ADMINISTRATOR),
                "actor": event.actor,
                "reason": event.reason,
            }
        )
    return rows


def audit_roster(services: Services) -> dict[str, Any]:
    """Replays every evidence, approval and script event against the roster as it
    stood then; "ok" is False when any was not allowed by the roster it names."""
    checked, findings = services.app.audit_authority()
    return {"checked": checked, "ok": not findings, "findings": [asdict(f) for f in findings]}
