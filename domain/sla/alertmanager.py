"""Reading Alertmanager webhook payloads (version "4").

A source holds one payload, or several as JSON lines (how webhook receivers usually log
them), plain or gzip-compressed. Faults raise ``ExportError`` with a position such as
``payload[2].alerts[0].startsAt``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from opsledger.domain.sla.chunks import Payload
from opsledger.domain.sla.errors import ExportError
from opsledger.domain.sla.payload import iter_json
from opsledger.domain.sla.series import Labels, unkeepable
from opsledger.domain.text import UNKEEPABLE_WHY

_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Alert:
    source: str
    status: Literal["firing", "resolved"]
    labels: Labels  # sorted
    annotations: Labels  # sorted
    starts_at: datetime
    ends_at: datetime | None  # None when Alertmanager sent its zero time (end unknown)
    fingerprint: str

    @property
    def alertname(self) -> str:
        return dict(self.labels).get("alertname", "")


def read_alertmanager(data: Payload, source: str) -> list[Alert]:
    """Every alert of every payload in the source, in document order."""
    return list(iter_alertmanager(data, source))


def iter_alertmanager(data: Payload, source: str) -> Iterator[Alert]:
    for number, payload in enumerate(iter_json(data, source)):
        yield from _payload(payload, f"payload[{number}]", source)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _payload(payload: Any, where: str, source: str) -> Iterator[Alert]:
    if type(payload) is not dict:
        raise ExportError(source, where, "expected an Alertmanager webhook object")
    if payload.get("version") != "4":
        raise ExportError(
            source,
            f"{where}.version",
            f'expected webhook version "4", got {_short(payload.get("version"))}',
        )
    alerts = payload.get("alerts")
    if type(alerts) is not list:
        raise ExportError(source, f"{where}.alerts", "expected a list of alerts")
    for index, alert in enumerate(alerts):
        yield _alert(alert, f"{where}.alerts[{index}]", source)


def _alert(raw: Any, where: str, source: str) -> Alert:
    if type(raw) is not dict:
        raise ExportError(source, where, "expected an alert object")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise ExportError(
            source, f"{where}.status", f'expected "firing" or "resolved", got {_short(status)}'
        )
    labels = _string_map(raw.get("labels"), f"{where}.labels", source)
    annotations = _string_map(raw.get("annotations", {}), f"{where}.annotations", source)
    starts_at = _time(raw.get("startsAt"), f"{where}.startsAt", source)
    if starts_at is None:
        raise ExportError(source, f"{where}.startsAt", "is the zero time")
    ends_at = _time(raw.get("endsAt", _ZERO_TIME), f"{where}.endsAt", source)
    if ends_at is not None and ends_at < starts_at:
        raise ExportError(source, f"{where}.endsAt", "ends before it starts")
    fingerprint = raw.get("fingerprint", "")
    if type(fingerprint) is not str:
        raise ExportError(source, f"{where}.fingerprint", "expected a string")
    return Alert(source, status, labels, annotations, starts_at, ends_at, fingerprint)


def _string_map(raw: Any, where: str, source: str) -> Labels:
    if type(raw) is not dict or not all(type(k) is str and type(v) is str for k, v in raw.items()):
        raise ExportError(source, where, "expected an object of strings")
    bad = unkeepable(raw.items())
    if bad is not None:
        raise ExportError(source, f"{where}.{bad}", UNKEEPABLE_WHY)
    return tuple(sorted(raw.items()))


def _time(raw: Any, where: str, source: str) -> datetime | None:
    """The time in UTC, or None for Go's zero time, which Alertmanager sends for "unknown"."""
    if type(raw) is not str:
        raise ExportError(source, where, f"expected an RFC 3339 time, got {_short(raw)}")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ExportError(source, where, f"{_short(raw)} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ExportError(source, where, f"{_short(raw)} has no time zone")
    if parsed.year == 1:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ExportError(source, where, f"{_short(raw)} is out of range") from None
