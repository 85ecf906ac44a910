"""Pydantic events on `eventsourcing` aggregates.

`eventsourcing` 9.5 ships no pydantic integration, so this module supplies the
two base classes the aggregates build on. Events are frozen pydantic models
with an explicit, stable `TOPIC` (a class may be renamed or moved; its topic
stays) and a timezone-aware UTC timestamp.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# Fixed namespace: ids derived from keys must never change between releases.
NAMESPACE = UUID("6f0c2b1e-8d47-5a53-9a51-0b5d1f3e7c21")


def utcnow() -> datetime:
    return datetime.now(UTC)


def derive_id(kind: str, key: str) -> UUID:
    """Deterministic aggregate id, so a key finds its record without an index."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


class Immutable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signature(Immutable):
    """The SSH signature that authorised an event (see domain.signing): who
    signed, with which key, and the exact bytes signed."""

    signer: str
    key: str = Field(pattern=r"^SHA256:[A-Za-z0-9+/]{43}$")
    signature: str
    signed: str  # base64 of the exact signed bytes

    def signed_bytes(self) -> bytes:
        return base64.b64decode(self.signed, validate=True)


class DomainEvent(Immutable):
    TOPIC: ClassVar[str]

    originator_id: UUID
    originator_version: int
    timestamp: AwareDatetime = Field(default_factory=utcnow)
    # Absent (not null) in stored events recorded before signing, and in
    # events recorded by code rather than by a person's signed command.
    signature: Signature | None = None

    @field_validator("timestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class Aggregate(BaseAggregate[UUID]):
    """Base for opsledger aggregates: pydantic events, ids derived from keys."""

    class Event(DomainEvent, CanMutateAggregate[UUID]):
        pass

    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:  # pragma: no cover - overridden
        raise NotImplementedError


class Created(Aggregate.Event, CanInitAggregate[UUID]):
    """Base of every aggregate's first event."""

    originator_topic: str
