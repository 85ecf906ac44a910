"""Pydantic events on `eventsourcing` aggregates.

`eventsourcing` 9.5 ships no pydantic integration, so this module supplies the
two base classes the aggregates build on. Events are frozen pydantic models
with an explicit, stable `TOPIC` (a class may be renamed or moved; its topic
stays) and a timezone-aware UTC timestamp.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate, event
from opsledger.domain.ids import NAMESPACE as NAMESPACE  # re-exported: ids live in domain.ids
from opsledger.domain.ids import derive_id as derive_id
from opsledger.domain.ids import utcnow
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)


class Immutable(BaseModel):
    # Each event class builds its validator when first used, not when defined:
    # a command that reads one flag does not pay for the other fifty event classes.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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

    # Fields added after events of a kind were first stored are left out of
    # the stored form when None, so events stored before them keep their bytes.
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"signature"})

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self.OMIT_WHEN_NONE:
                if data.get(name, False) is None:
                    del data[name]
        return data

    @field_validator("timestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """eventsourcing passes an event only the arguments its signature names;
        a deferred build has no signature yet, so it is given its fields' now
        (the full build replaces it with pydantic's own, naming the same fields)."""
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.__pydantic_complete__:
            cls.__signature__ = inspect.Signature(  # type: ignore[misc]
                [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY)
                 for name in cls.model_fields]
            )


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


def applies(event_cls: type[DomainEvent]) -> Callable[[Callable[..., None]], Any]:
    """`@event(event_cls)` for a method that names only the fields it reads.

    `eventsourcing` binds an `@event` method by its signature: a call may pass
    only the names it declares, and on replay the method gets only the event's
    fields it names. This gives the method the event's signature instead (each
    field the event adds to `DomainEvent`, keyword-only and required), so the
    fields are declared once, in the event class; the method's own parameters
    name what its body reads and `**_` takes the rest.
    """
    base = set(Created.model_fields)  # what eventsourcing itself supplies
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=field.annotation)
        for name, field in event_cls.model_fields.items()
        if name not in base
    ]

    def decorate(method: Callable[..., None]) -> Any:
        method.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return event(event_cls)(method)

    return decorate
