"""API tokens: bearer credentials for the HTTP service, issued by an administrator.

A token is a credential, never an identity proof for the record: it lets its
holder *read* (scope `read`), hand Alertmanager's webhooks in (`alerts`) or
*submit* actions they signed with their own SSH key (`act`). Nothing a token
alone carries is ever recorded as a person's act.

Each token is its own aggregate (`token:<id>`), so issuing and revoking are
signed actions bound to one record and one version like every other. The
record holds the token's id, holder, kind of account, scopes, expiry and the
SHA-256 of the whole token string: never the secret, which is shown once to
the administrator who issued it.

A *service account* (Alertmanager, say) is a roster name that holds a role
but no SSH key: it can never sign, so its tokens are refused the `act` scope,
and issuing one to a name that holds a key is refused (that name is a
person's). The token records `account: "service"`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from eventsourcing.domain import event
from opsledger.domain.errors import DomainError, InvalidInput, ReasonRequired
from opsledger.domain.model import Aggregate, Created, derive_id
from opsledger.domain.ticket.inputs import validate_text
from pydantic import AwareDatetime

TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
Account = Literal["person", "service"]


class Scope(StrEnum):
    READ = "read"  # the JSON API and the pages
    ALERTS = "alerts"  # Alertmanager's webhook intake
    ACT = "act"  # submitting actions signed with the holder's own key


class TokenRuleError(DomainError):
    """A token may not be issued or revoked like this."""


def validate_token_id(token_id: str) -> str:
    if not isinstance(token_id, str) or not TOKEN_ID.fullmatch(token_id):
        if isinstance(token_id, str) and ("olt_" in token_id or len(token_id) > 40):
            # a whole token pasted where its id belongs: never echo its secret
            raise InvalidInput("token id", "this looks like a whole token, not its id: give "
                               "only the 16 hex digits after olt_ (roster token list)")
        raise InvalidInput(repr(token_id), "not a token id (16 hex digits)")
    return token_id


def token_id_of(token_id: str) -> UUID:
    return derive_id("token", validate_token_id(token_id))


def check_scopes(holder: str, account: Account, scopes: list[str]) -> list[str]:
    """The scopes as recorded: known, sorted, at least one, no `act` for a service."""
    if not scopes:
        raise InvalidInput(holder, "a token needs at least one scope (read, alerts, act)")
    try:
        known = sorted({Scope(s).value for s in scopes})
    except ValueError:
        raise InvalidInput(holder, f"unknown scope in {scopes!r} (read, alerts, act)") from None
    if account == "service" and Scope.ACT.value in known:
        raise TokenRuleError(
            holder, "a service account holds no key and signs nothing: no 'act' scope")
    return known


class ApiToken(Aggregate):
    TOPIC = "opsledger.token"

    class Issued(Created):
        TOPIC: ClassVar[str] = "opsledger.token.Issued"
        token_id: str
        holder: str
        account: Account
        scopes: list[str]
        expires_at: AwareDatetime
        digest: str
        actor: str
        reason: str

    class Revoked(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.token.Revoked"
        token_id: str
        actor: str
        reason: str

    @staticmethod
    def create_id(token_id: str, **_: Any) -> UUID:
        return token_id_of(token_id)

    @classmethod
    def issue(cls, *, token_id: str, holder: str, account: Account, scopes: list[str],
              expires_at: datetime, digest: str, actor: str, reason: str) -> ApiToken:
        validate_token_id(token_id)
        if not DIGEST.fullmatch(digest):
            raise InvalidInput(token_id, "a token's digest is sha256:<64 hex>")
        if account not in ("person", "service"):
            raise InvalidInput(token_id, "a token's account is 'person' or 'service'")
        _require_reason(token_id, reason)
        return cls(token_id=token_id, holder=holder, account=account,
                   scopes=check_scopes(holder, account, scopes), expires_at=expires_at,
                   digest=digest, actor=actor, reason=reason)

    @event(Issued)
    def __init__(self, *, token_id: str, holder: str, account: Account, scopes: list[str],
                 expires_at: datetime, digest: str, actor: str, reason: str) -> None:
        self.token_id = token_id
        self.holder = holder
        self.account = account
        self.scopes = list(scopes)
        self.expires_at = expires_at
        self.digest = digest
        self.issued_by = actor
        self.revoked_at: datetime | None = None
        self.revoked_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, *, actor: str, reason: str) -> bool:
        """Refused from now on; False (nothing recorded) when revoked already."""
        _require_reason(self.token_id, reason)
        if self.revoked:
            return False
        self._revoke(token_id=self.token_id, actor=actor, reason=reason)
        return True

    @event(Revoked)
    def _revoke(self, token_id: str, actor: str, reason: str) -> None:
        self.revoked_at = self.modified_on
        self.revoked_by = actor

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.token_id, "holder": self.holder, "account": self.account,
                "scopes": list(self.scopes), "issued_at": self.created_on,
                "issued_by": self.issued_by, "expires_at": self.expires_at,
                "revoked_at": self.revoked_at, "revoked_by": self.revoked_by}


def _require_reason(token_id: str, reason: str) -> None:
    if not reason.strip():
        raise ReasonRequired(token_id, "issuing or revoking a token needs a --reason")
    validate_text(token_id, "reason", reason, limit=500)
