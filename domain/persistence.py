"""Mapper and transcoder that store pydantic events as canonical JSON.

Canonical (sorted keys, no insignificant white space, UTF-8) so that the same
event always has the same bytes: archives and the Merkle log hash them.
"""

from __future__ import annotations

import importlib
import json
import math
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import TopicError, get_topic, resolve_topic

if TYPE_CHECKING:
    from pydantic import BaseModel

_IDENTITY = {"originator_id", "originator_version"}


def canonical_json(obj: Any) -> bytes:
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError:
        # JSON has no NaN or infinity; pydantic reads these strings back as floats.
        text = json.dumps(
            _finite(obj),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    return text.encode("utf-8")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


class CanonicalJSONTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


class PydanticMapper(Mapper):
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        model: BaseModel = domain_event
        state = self.transcoder.encode(model.model_dump(mode="json", exclude=_IDENTITY))
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=state,
        )

    def stored_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        """The event's fields as stored (JSON types), without building its class."""
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return self.transcoder.decode(state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            cls = _event_class(stored_event.topic)
            return cls.model_validate(
                {
                    **self.stored_state(stored_event),
                    "originator_id": stored_event.originator_id,
                    "originator_version": stored_event.originator_version,
                }
            )
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            msg = (
                f"cannot decode stored event {stored_event.originator_id}"
                f"@{stored_event.originator_version} ({stored_event.topic}): {e}"
            )
            raise MapperDeserialisationError(msg) from e


# Where the stored topics' classes are defined. A command may start without
# them (reading as stored needs none); a decode that finds its topic not yet
# registered imports them first, since eventsourcing resolves an explicit
# TOPIC only once its class exists.
EVENT_MODULES = (
    "opsledger.domain.flag",
    "opsledger.domain.roster",
    "opsledger.domain.shift",
    "opsledger.domain.ticket.aggregate",
    "opsledger.domain.tokens",
)


def _event_class(topic: str) -> Any:
    try:
        return resolve_topic(topic)
    except TopicError:
        for module in EVENT_MODULES:
            importlib.import_module(module)
        return resolve_topic(topic)


MAPPER_ENV = {
    "MAPPER_TOPIC": get_topic(PydanticMapper),
    "TRANSCODER_TOPIC": get_topic(CanonicalJSONTranscoder),
}
