"""The API tokens' use cases: an administrator issues and revokes them; the
HTTP service reads one to check a presented bearer token."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from opsledger.domain.errors import AlreadyExists, NotAuthorised, NotFound
from opsledger.domain.roster import SelfGrant, validate_person
from opsledger.domain.runbook import ACTION_AUTHORITY
from opsledger.domain.tokens import Account, ApiToken, TokenRuleError, token_id_of
from opsledger.domain.use_cases.base import UseCases


class TokenUseCases(UseCases):
    def issue_token(self, token_id: str, *, holder: str, account: Account, scopes: list[str],
                    expires_at: datetime, digest: str, actor: str, reason: str) -> None:
        """Records a token for `holder` (a person, or a service account: a roster
        name holding a role and no key); only its digest, never the secret."""
        validate_person(holder)
        validate_person(actor)
        roster = self._roster_for(actor)
        roster.authorise(actor, ACTION_AUTHORITY["issue_token"], None, "issuing an API token")
        if holder == actor:
            raise SelfGrant(actor, "an administrator cannot issue a token to themselves; ask another")
        if not roster.roles_of(holder):
            raise NotAuthorised(holder, f"the roster grants {holder} no role: grant one first")
        holds_key = bool(roster.keys_of(holder))
        if account == "service" and holds_key:
            raise TokenRuleError(holder, f"{holder} holds an SSH key: a person, not a service account")
        token = ApiToken.issue(token_id=token_id, holder=holder, account=account, scopes=scopes,
                               expires_at=expires_at, digest=digest, actor=actor, reason=reason)
        try:
            self.save(token)
        except IntegrityError:
            raise AlreadyExists(token_id, "a token with this id was issued before") from None

    def revoke_token(self, token_id: str, *, actor: str, reason: str) -> bool:
        """Refuses the token from now on; False when it was revoked already."""
        validate_person(actor)
        self._authorise(actor, ACTION_AUTHORITY["revoke_token"], None, "revoking an API token")
        return self._command(lambda: self.get_token(token_id),
                             lambda t: t.revoke(actor=actor, reason=reason))

    def get_token(self, token_id: str) -> ApiToken:
        try:
            found = self.repository.get(token_id_of(token_id))
        except AggregateNotFoundError:
            raise NotFound(token_id, "no such token") from None
        if not isinstance(found, ApiToken):  # pragma: no cover - ids are namespaced
            raise NotFound(token_id, "no such token")
        return found

    def token_ids(self) -> list[str]:
        """Every token ever issued, oldest first."""
        out = []
        for n in self.notifications(topics=[ApiToken.Issued.TOPIC]):
            out.append(self.mapper.to_domain_event(n).token_id)
        return out
