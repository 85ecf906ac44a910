"""API tokens for the HTTP service: issue (shown once), list, revoke, and check
a presented token against the record and the roster.

A token is `olt_<id>_<secret>`: a 16-hex id (the record's key) and a 256-bit
secret (43 characters of base64url). The record keeps the SHA-256 of the whole
string, so the store never holds anything that would let a reader present it;
a presented token is compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsledger.domain.errors import NotFound
from opsledger.domain.model import utcnow
from opsledger.domain.runbook import Role
from opsledger.domain.tokens import Account, Scope
from opsledger.services.errors import InvalidRequest, Refused

if TYPE_CHECKING:
    from opsledger.domain.roster import Roster
    from opsledger.services.bootstrap import Services

PREFIX = "olt_"
TOKEN = re.compile(r"^olt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
MAX_LIFETIME = timedelta(days=400)
# Who may read the record through the service: every runbook role, auditors
# and engineers. The administrator keeps the roster; reading needs one of these.
READING_ROLES = frozenset(r.value for r in Role if r is not Role.ADMINISTRATOR)
_DURATION = re.compile(r"^(\d{1,4})([hdw])$")


class Unauthenticated(Refused):
    """No credential, or one the record does not accept (unknown, wrong, expired, revoked)."""


class Forbidden(Refused):
    """A credential the record accepts, whose holder lacks the role or scope."""


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    token_id: str
    holder: str
    account: Account
    scopes: list[str]
    expires_at: datetime


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, as the record and roster say now."""

    name: str
    roles: frozenset[str]
    scopes: frozenset[str]
    via: str  # "token:<id>", "cookie:<id>", "header"
    account: Account = "person"


def parse_lifetime(text: str) -> timedelta:
    """`12h`, `30d`, `8w`: a token's lifetime, at most 400 days."""
    found = _DURATION.match(text.strip())
    if not found:
        raise InvalidRequest(f"--expires {text!r}: a number and h, d or w (30d)")
    n, unit = int(found[1]), found[2]
    lifetime = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise InvalidRequest(f"--expires {text!r}: between 1h and {MAX_LIFETIME.days}d")
    return lifetime


def digest_of(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(services: Services, holder: str, scopes: list[str], *, lifetime: timedelta,
                service_account: bool, reason: str) -> IssuedToken:
    """Mints a token for `holder` and records it (signed by the administrator)."""
    token_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    token = f"{PREFIX}{token_id}_{secret}"
    account: Account = "service" if service_account else "person"
    expires_at = (utcnow() + lifetime).replace(microsecond=0)
    services.app.issue_token(token_id, holder=holder, account=account, scopes=sorted(set(scopes)),
                             expires_at=expires_at, digest=digest_of(token), reason=reason,
                             actor=services.settings.actor)
    recorded = services.ledger_app.get_token(token_id)
    return IssuedToken(token, token_id, holder, account, recorded.scopes, expires_at)


def revoke_token(services: Services, token_id: str, *, reason: str) -> bool:
    """Refused from now on; False when it was revoked already."""
    return services.app.revoke_token(token_id, reason=reason, actor=services.settings.actor)


def list_tokens(services: Services) -> list[dict[str, Any]]:
    """Every token ever issued (never a secret), oldest first, with its state."""
    app = services.ledger_app
    now = utcnow()
    rows = []
    for token_id in app.token_ids():
        row = app.get_token(token_id).as_dict()
        row["state"] = ("revoked" if row["revoked_at"] else
                        "expired" if row["expires_at"] <= now else "active")
        rows.append(row)
    return rows


@dataclass
class TokenAuthority:
    """Checks credentials for the HTTP service. The roster is re-read only when
    its version moved; a token's record is read at every request, so that a
    revocation takes effect at once."""

    services: Services
    _roster: tuple[int, Roster] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def roster(self) -> Roster:
        app = self.services.ledger_app
        version = app.target_version("roster:desk")
        with self._lock:
            if self._roster is None or self._roster[0] != version:
                try:
                    self._roster = (version, app.get_roster())
                except NotFound:
                    raise Unauthenticated("no roster has been founded: nobody may read") from None
            return self._roster[1]

    def token(self, presented: str, *, via: str = "token", now: datetime | None = None) -> Caller:
        """The caller a bearer token stands for; Unauthenticated unless it is
        known, matches, has not expired and is not revoked."""
        found = TOKEN.fullmatch(presented or "")
        if not found:
            raise Unauthenticated("not an opsledger API token (olt_<id>_<secret>)")
        try:
            record = self.services.ledger_app.get_token(found[1])
            expected = record.digest
        except NotFound:
            record, expected = None, "sha256:" + "0" * 64  # compare anyway: same time either way
        if not hmac.compare_digest(digest_of(presented), expected) or record is None:
            raise Unauthenticated("unknown or wrong token")
        if record.revoked:
            raise Unauthenticated(f"token {record.token_id} was revoked")
        if record.expires_at <= (now or utcnow()):
            raise Unauthenticated(f"token {record.token_id} has expired")
        roles = frozenset(r.value for r in self.roster().roles_of(record.holder))
        return Caller(record.holder, roles, frozenset(record.scopes),
                      f"{via}:{record.token_id}", record.account)

    def person(self, name: str, *, via: str = "header") -> Caller:
        """A person named by a trusted SSO proxy: read scope only, roles from the roster."""
        roles = frozenset(r.value for r in self.roster().roles_of(name))
        if not roles:
            raise Forbidden(f"{name} holds no role in the roster")
        return Caller(name, roles, frozenset({Scope.READ.value}), via)


def require(caller: Caller, scope: str, *, reading_role: bool = True) -> None:
    """Forbidden unless the caller's token has `scope` and (for reads) the roster
    grants its holder a reading role."""
    if scope not in caller.scopes:
        raise Forbidden(f"this credential lacks the '{scope}' scope")
    if reading_role and not caller.roles & READING_ROLES:
        held = ", ".join(sorted(caller.roles)) or "no role"
        raise Forbidden(f"{caller.name} holds {held}: reading needs a runbook role, "
                        "auditor or engineer")
