"""The roster: who holds which role and which SSH keys, kept by administrators.

Authority comes from here: evidence, approvals and the launch and halt
scripts ask the roster when they are recorded, and every signed command asks
it whose key signed. The roster is itself a record of events, so every grant,
revocation, key and confirmation is audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.ssh_signing import CryptographyVerifier
from opsledger.archiver.verify.identity import replay_identity
from opsledger.domain.errors import NotFound
from opsledger.domain.roster_keys import accepted_key
from opsledger.domain.runbook import Role
from opsledger.services.errors import InvalidRequest

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


@dataclass(frozen=True)
class RoleChange:
    person: str
    role: Role
    actor: str
    recorded: bool  # False: the role was already in place, nothing recorded
    proposal: str | None = None  # set: recorded as a proposal a second administrator confirms


ChangeCallback = Callable[[RoleChange], None]


MAX_PUBLIC_KEY_FILE = 16 * 1024


def read_public_key(path: Path) -> str:
    """The key line of a `.pub` file (its first non-blank, non-comment line)."""
    with path.open("rb") as f:
        data = f.read(MAX_PUBLIC_KEY_FILE + 1)
    if len(data) > MAX_PUBLIC_KEY_FILE:
        raise InvalidRequest(f"{path}: not a public key file (over {MAX_PUBLIC_KEY_FILE} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path}: not a public key file (not text)") from None
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys:
        raise InvalidRequest(f"{path}: holds no public key line")
    return keys[0]


def found_roster(
    services: Services,
    *,
    administrator: str,
    actor: str,
    reason: str,
    public_key: str | None = None,
    second_administrator: str | None = None,
    second_public_key: str | None = None,
) -> str:
    """Founds the roster, once, signed by the founder's key (which becomes
    their first key); returns its first administrator."""
    services.app.found_roster(
        administrator=administrator, actor=actor, reason=reason, public_key=public_key,
        second_administrator=second_administrator, second_public_key=second_public_key,
    )
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
    return _change(services.app.grant_role, person, roles, actor or services.actor, reason,
                   progress)


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
    return _change(services.app.revoke_role, person, roles, actor or services.actor, reason,
                   progress)


def _change(
    record: Callable[..., bool | str],
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
        outcome = record(person, role, actor=actor, reason=reason)
        proposal = outcome if isinstance(outcome, str) else None
        change = RoleChange(person, role, actor, bool(outcome), proposal)
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


_CHANGE = {
    "Founded": "founded", "RoleGranted": "granted", "RoleRevoked": "revoked",
    "KeyAdded": "key added", "KeyRevoked": "key revoked", "GrantProposed": "proposed",
    "ProposalConfirmed": "confirmed",
}


def roster_history(services: Services) -> list[dict[str, Any]]:
    """Every roster change, oldest first: who granted or revoked what, and why.

    "role" is None for key changes; "detail" names the key (fingerprint) or the
    proposal ("P7: grant", "P7: revoke") a row is about."""
    rows: list[dict[str, Any]] = []
    for event in services.app.roster_events():
        kind = type(event).__name__
        detail = getattr(event, "fingerprint", None)
        if kind in ("GrantProposed", "ProposalConfirmed"):
            detail = f"{event.proposal_id}: {event.change}"
        rows.append(
            {
                "version": event.originator_version,
                "at": event.timestamp,
                "change": _CHANGE.get(kind, kind),
                "person": getattr(event, "person", None) or event.administrator,
                "role": getattr(event, "role", None if kind.startswith("Key") else
                                Role.ADMINISTRATOR),
                "actor": event.actor,
                "reason": event.reason,
                "detail": detail,
            }
        )
    return rows


# --- keys (issue 12) ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyChange:
    person: str
    fingerprint: str
    actor: str
    recorded: bool  # False: already held (add) or already revoked (revoke)


def add_key(
    services: Services, person: str, public_key: str, *, actor: str, reason: str
) -> KeyChange:
    """Adds `person`'s key (a .pub line), valid from now (administrators only)."""
    try:
        held_before = services.app.get_roster().person_of_key(accepted_key(public_key).fingerprint)
    except NotFound:  # no roster yet: add_key says so in its own words
        held_before = None
    fingerprint = services.app.add_key(person, public_key=public_key, actor=actor,
                                       reason=reason)
    return KeyChange(person, fingerprint, actor, recorded=held_before is None)


def revoke_key(
    services: Services, person: str, fingerprint: str, *, actor: str, reason: str
) -> KeyChange:
    """Closes the key's window now: what it signed before still verifies."""
    recorded = services.app.revoke_key(person, fingerprint=fingerprint, actor=actor,
                                       reason=reason)
    return KeyChange(person, fingerprint, actor, recorded)


def roster_keys(services: Services, at_version: int | None = None) -> dict[str, Any]:
    """Every key, revoked ones included, with its window, now or at `at_version`."""
    roster = services.app.get_roster(version=at_version)
    return {"version": roster.version, "keys": [k.as_dict() for k in roster.all_keys()]}


@dataclass(frozen=True)
class AllowedSigners:
    version: int  # the roster version found (less than asked when it has not reached it)
    text: str


def allowed_signers(services: Services, at_version: int | None = None) -> AllowedSigners:
    """The roster's keys as an OpenSSH allowed_signers file, for `ssh-keygen -Y verify`:
    principals = the person, namespaces="opsledger", each key's window."""
    roster = services.app.get_roster(version=at_version)
    return AllowedSigners(roster.version, roster.allowed_signers())


# --- four eyes ---------------------------------------------------------------------


def roster_proposals(services: Services, *, pending_only: bool = False) -> dict[str, Any]:
    """Role changes proposed for a second administrator, pending first."""
    roster = services.app.get_roster()
    proposals = [p for p in roster.proposals.values() if p.pending or not pending_only]
    proposals.sort(key=lambda p: (not p.pending, int(p.id[1:])))
    return {"version": roster.version, "proposals": [p.as_dict() for p in proposals]}


def confirm_proposal(
    services: Services, proposal_id: str, *, actor: str, reason: str
) -> dict[str, Any]:
    """A second administrator confirms a proposal; the role change takes effect."""
    return services.app.confirm_proposal(proposal_id, actor=actor, reason=reason).as_dict()


def audit_roster(services: Services) -> dict[str, Any]:
    """Replays every evidence, approval and script event against the roster as it
    stood then; "ok" is False when any was not allowed by the roster it names."""
    checked, findings = services.app.audit_authority()
    signatures = identity_of_store(services)
    return {"checked": checked, "ok": not findings and not signatures["findings"],
            "findings": [asdict(f) for f in findings], "signatures": signatures}


def identity_of_store(services: Services) -> dict[str, Any]:
    """Every stored event's signature replayed against the roster's keys, as
    `archive verify` does from an archive: how many events are signed, how many
    were recorded before signing, and each failure by log position."""
    app = services.ledger_app
    rows = []
    for n in app.notifications():
        rows.append((f"position {n.id}", json.loads(n.state), app.mapper.to_domain_event(n)))
    findings = replay_identity(rows, CryptographyVerifier(), unsigned_is_finding=False)
    unsigned = sum(1 for _, _, e in rows if getattr(e, "signature", None) is None)
    return {"events": len(rows), "unsigned": unsigned, "findings": findings}
