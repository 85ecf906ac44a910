"""The runbook's SLA section on a ticket: a breach is recorded once, and its end
once more when it was recorded still going on.

A breach is *open* while the record knows no end: recorded without a window end
(an Alertmanager alert still firing), or, as recorded before the end could be
told apart, an Alertmanager breach whose window ends where it starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from opsledger.domain.errors import InvalidInput
from opsledger.domain.ticket.inputs import SHA256_HEX
from pydantic import AwareDatetime, TypeAdapter

Recording = Literal["recorded", "ended"]
_MOMENT: TypeAdapter[AwareDatetime | None] = TypeAdapter(AwareDatetime | None)


def _moment(value: Any) -> datetime | None:
    """A time as recorded (datetime) or as signed and sent (ISO text)."""
    return _MOMENT.validate_python(value)


def state(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What the ticket keeps of a recorded breach."""
    kept = {k: fields.get(k) for k in ("metric", "severity", "source")}
    return kept | {k: _moment(fields.get(k)) for k in ("window_start", "window_end")}


def is_open(known: Mapping[str, Any]) -> bool:
    end = known.get("window_end")
    if end is None:
        return True
    return known.get("source") == "alertmanager" and end == known.get("window_start")


def recording(
    known: Mapping[str, Mapping[str, Any]], breach: Mapping[str, Any]
) -> tuple[Recording, dict[str, Any]] | None:
    """What `breach` adds to the record: the breach itself, its end, or nothing."""
    seen = known.get(breach["breach_id"])
    if seen is None:
        return "recorded", dict(breach)
    end = _moment(breach.get("window_end"))
    if end is None or not is_open(seen):
        return None
    recorded_end = seen.get("window_end")
    if recorded_end is not None and end <= recorded_end:
        return None
    if end < seen["window_start"]:
        return None
    detail = breach.get("detail") or ""
    return "ended", {"breach_id": breach["breach_id"], "window_end": end, "detail": detail}


SNAPSHOT_FIELDS = ("file", "path", "sha256", "size", "source", "since", "until",
                   "step_seconds", "queries")
_SNAPSHOT_FILE = re.compile(r"^metrics_[0-9]{8}T[0-9]{6}Z\.json\.gz$")


def snapshot(
    key: str, known: Mapping[str, str], fields: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A metrics snapshot's record, checked; None when its file is on the record already."""
    found = {k: fields.get(k) for k in SNAPSHOT_FIELDS}
    since, until = _moment(found["since"]), _moment(found["until"])
    size, step = found["size"], found["step_seconds"]
    if (not isinstance(found["file"], str) or not _SNAPSHOT_FILE.fullmatch(found["file"])
            or not isinstance(found["sha256"], str) or not SHA256_HEX.fullmatch(found["sha256"])
            or not isinstance(size, int) or size < 0 or since is None or until is None
            or until < since or not isinstance(step, int | float) or step <= 0
            or not isinstance(found["queries"], dict)):
        raise InvalidInput(key, f"not a metrics snapshot record: {dict(fields)!r:.200}")
    if found["sha256"] in known:
        return None
    return found | {"since": since, "until": until, "step_seconds": float(step),
                    "queries": {str(k): str(v) for k, v in found["queries"].items()}}
