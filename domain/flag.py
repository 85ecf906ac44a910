"""Feature flags (`live.enabled` and any other): one audit trail across tickets."""

from __future__ import annotations

import re
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event
from opsledger.domain.errors import InvalidInput, ReasonRequired
from opsledger.domain.model import Aggregate, Created, derive_id
from opsledger.domain.runbook import LIVE_FLAG, Role
from opsledger.domain.ticket import validate_key, validate_text

FLAG_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,127}$")
_TRUE = {"true", "on", "1", "yes", "enabled"}
_FALSE = {"false", "off", "0", "no", "disabled"}


def flag_id(name: str) -> UUID:
    return derive_id("flag", name)


def validate_flag_name(name: str) -> str:
    if not isinstance(name, str) or not FLAG_NAME.match(name):
        raise InvalidInput(repr(name), "not a flag name (lowercase, e.g. live.enabled)")
    return name


def normalise_value(name: str, value: str) -> str:
    """Booleans are stored as true/false so that every reader agrees on them."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return "true"
    if lowered in _FALSE:
        return "false"
    if name == LIVE_FLAG:
        raise InvalidInput(name, f"{name} is true or false, not {value!r}")
    return validate_text(name, "flag value", value.strip(), limit=500)


def as_bool(value: str | None) -> bool | None:
    return None if value is None else value == "true"


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
