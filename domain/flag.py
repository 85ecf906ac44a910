"""Feature flags (`live.enabled` and any other): one audit trail across tickets."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event
from opsledger.domain.errors import ReasonRequired
from opsledger.domain.flag_rules import FLAG_NAME as FLAG_NAME  # re-exported: the rules live there
from opsledger.domain.flag_rules import as_bool as as_bool
from opsledger.domain.flag_rules import flag_id, normalise_value, validate_flag_name
from opsledger.domain.model import Aggregate, Created
from opsledger.domain.runbook import Role
from opsledger.domain.ticket.inputs import validate_key, validate_text


class FeatureFlag(Aggregate):
    TOPIC = "opsledger.flag"

    class Created(Created):
        TOPIC: ClassVar[str] = "opsledger.flag.Created"
        name: str

    class Changed(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.flag.Changed"
        name: str
        old: str | None
        new: str
        actor: str
        role: Role | None = None
        reason: str
        ticket: str | None = None

    @staticmethod
    def create_id(name: str, **_: Any) -> UUID:
        return flag_id(name)

    @classmethod
    def create(cls, name: str) -> FeatureFlag:
        return cls(name=validate_flag_name(name))

    @event(Created)
    def __init__(self, *, name: str) -> None:
        self.name = name
        self.value: str | None = None
        self.changes = 0

    def set(
        self, *, value: str, actor: str, role: Role | None, reason: str, ticket: str | None
    ) -> bool:
        """Records a change; returns False (and records nothing) if the value stands."""
        new = normalise_value(self.name, value)
        if not reason.strip():
            raise ReasonRequired(self.name, "a flag change needs a --reason for the audit trail")
        validate_text(self.name, "reason", reason)
        if ticket is not None:
            validate_key(ticket)
        if new == self.value:
            return False
        self._change(
            name=self.name,
            old=self.value,
            new=new,
            actor=actor,
            role=role,
            reason=reason,
            ticket=ticket,
        )
        return True

    @event(Changed)
    def _change(
        self,
        name: str,
        old: str | None,
        new: str,
        actor: str,
        role: Role | None,
        reason: str,
        ticket: str | None,
    ) -> None:
        self.value = new
        self.changes += 1
