"""Reading the event log as facts: position, topic, originator, version, data.

Views are written against the stored canonical JSON (the same bytes the
Merkle log hashes), not against the pydantic classes: topics and field names
are the stable contract, and the events were validated when they were
written, so re-validating them on every rebuild would double its cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from opsledger.domain.persistence import CanonicalJSONTranscoder
from opsledger.projections import encoding
from opsledger.projections.errors import InvalidQuery, UndecodableEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class Fact(NamedTuple):
    """One stored event at its global position in the log."""

    position: int
    topic: str
    originator_id: str
    version: int
    data: Mapping[str, Any]
    # The stored bytes as they are (compressed or encrypted if the mapper does
    # so): what the ledger hashes, never what a view reads.
    state: bytes = b""

    @property
    def timestamp(self) -> str:
        return self.data["timestamp"]


class Recorder(Protocol):
    """The part of eventsourcing's ApplicationRecorder the projections use."""

    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Any]: ...

    def max_notification_id(self) -> int | None: ...

    def select_events(self, originator_id: UUID | str, *, lte: int | None = None) -> Sequence[Any]: ...


class Codec(Protocol):
    """The part of eventsourcing's Mapper needed to undo compression and encryption."""

    cipher: Any
    compressor: Any
    transcoder: Any


class EventLog:
    """Pull-based reader of the application's notification log."""

    def __init__(self, recorder: Recorder, mapper: Codec) -> None:
        self.recorder = recorder
        self._decode_state = _state_decoder(mapper)
        # An aggregate's id recurs in every one of its events; str(UUID) is not free.
        self._ids: dict[Any, str] = {}

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int) -> list[Fact]:
        """Up to `limit` facts with a position greater than `after`, in order."""
        page = self.recorder.select_notifications(start=after + 1, limit=limit)
        decode = self._decode_state
        ids = self._ids
        if len(ids) > 50_000:
            ids.clear()
        facts: list[Fact] = []
        append = facts.append
        n = None
        try:  # one try around the loop, not one per event
            for n in page:
                oid = ids.get(n.originator_id)
                if oid is None:
                    oid = ids[n.originator_id] = str(n.originator_id)
                state = n.state
                append(Fact(n.id, n.topic, oid, n.originator_version, decode(state), state))
        except (ValueError, TypeError) as e:
            position, topic = (n.id, n.topic) if n is not None else (None, "?")
            raise UndecodableEvent(position, topic, _first_line(e)) from None
        return facts

    def aggregate_facts(self, originator_id: str, positions: Mapping[int, int]) -> list[Fact]:
        """The events of one aggregate whose versions are keys of `positions` (version -> position)."""
        if not positions:
            return []
        stored = self.recorder.select_events(UUID(originator_id), lte=max(positions))
        facts = []
        for s in stored:
            position = positions.get(s.originator_version)
            if position is None:
                continue
            try:
                data = self._decode_state(s.state)
            except (ValueError, TypeError) as e:
                raise UndecodableEvent(position, s.topic, _first_line(e)) from None
            facts.append(
                Fact(position, s.topic, originator_id, s.originator_version, data, s.state)
            )
        return facts


def _state_decoder(mapper: Codec) -> Callable[[bytes], Mapping[str, Any]]:
    cipher, compressor = mapper.cipher, mapper.compressor
    if isinstance(mapper.transcoder, CanonicalJSONTranscoder):
        loads = encoding.loads  # same JSON, parsed four times faster
    else:
        loads = mapper.transcoder.decode
    if cipher is None and compressor is None:
        return loads

    def decode(state: bytes) -> Mapping[str, Any]:
        if cipher is not None:
            state = cipher.decrypt(state)
        if compressor is not None:
            state = compressor.decompress(state)
        return loads(state)

    return decode


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- time: stored as integer microseconds so that both stores sort and compare alike ---


def micros(iso: str) -> int:
    """ISO 8601 time with a zone (as pydantic stores it) -> microseconds since the epoch."""
    return (datetime.fromisoformat(iso) - _EPOCH) // _MICRO


def micros_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidQuery(f"{moment.isoformat()} has no time zone")
    try:  # 9999-12-31T23:59:59-14:00 is a valid time whose UTC is in year 10000
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise InvalidQuery(
            f"{moment.isoformat()} is out of range (years 1 to 9999 in UTC)") from None
    return (moment - _EPOCH) // _MICRO


_MINUTE = 60_000_000
_minute_prefixes: dict[int, str] = {}


def iso(value: int | None) -> str | None:
    """Microseconds -> '2026-11-23T14:05:00.000000Z' (fixed width, so text sorts as time).

    Queries turn thousands of stored times back into text; formatting only the
    seconds, with the date, hour and minute cached, is several times faster
    than strftime.
    """
    if value is None:
        return None
    minute, rest = divmod(value, _MINUTE)
    prefix = _minute_prefixes.get(minute)
    if prefix is None:
        if len(_minute_prefixes) > 200_000:
            _minute_prefixes.clear()
        d = _EPOCH + timedelta(minutes=minute)
        prefix = _minute_prefixes[minute] = (
            f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:"
        )
    second, micro = divmod(rest, 1_000_000)
    return f"{prefix}{second:02d}.{micro:06d}Z"
