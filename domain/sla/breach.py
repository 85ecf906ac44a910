"""The breach value object and its deterministic identity."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Literal

from opsledger.domain.sla.policy import HeartbeatRule, Severity, ThresholdRule
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

BreachSource = Literal["prometheus", "alertmanager"]


class Breach(BaseModel):
    """One SLA breach window, ready to be recorded on a ticket.

    ``observed`` is the worst value in ``unit``: the longest gap in seconds for heartbeat
    rules, the highest (scaled, absolute where the rule says so) sample for threshold rules,
    the alert's ``value`` annotation scaled as the rule's samples are (NaN when absent) for
    Alertmanager alerts. ``samples``
    counts the breaching samples of a threshold window, every sample from the last beat to
    the next (both included) for a heartbeat gap, and the notifications merged for an alert.
    """

    # NaN and ±Inf serialise as "NaN"/"Infinity"/"-Infinity" so that JSON round-trips.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    breach_id: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    rule: str
    metric: str
    labels: dict[str, str]
    threshold: float
    unit: str
    comparison: str
    observed: float
    window_start: AwareDatetime
    window_end: AwareDatetime | None  # None: still going on (an alert not yet resolved)
    samples: Annotated[int, Field(ge=0)]
    severity: Severity
    escalation: str
    source: BreachSource
    detail: str


def breach_identity(
    source: BreachSource,
    rule: str,
    metric: str,
    labels: Mapping[str, str],
    window_start: datetime,
) -> str:
    """sha256 (hex) of the source, rule id, metric, series labels and window start.

    It deliberately leaves out everything that can grow or be re-measured while the window
    is the same one: window end, observed value, sample count, severity, detail and the
    export file names. Re-reading an export, reading it merged with a later one that
    extends the window, or receiving the "resolved" notification of an alert after its
    "firing" one therefore yields the same id. Labels exclude ``__name__``; the window start
    is taken in UTC to the microsecond.
    """
    canonical = json.dumps(
        {
            "v": 1,
            "source": source,
            "rule": rule,
            "metric": metric,
            "labels": dict(sorted(labels.items())),
            "window_start": window_start.astimezone(UTC).isoformat(timespec="microseconds"),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_breach(
    rule: HeartbeatRule | ThresholdRule,
    source: BreachSource,
    labels: dict[str, str],
    start: datetime,
    end: datetime | None,
    observed: float,
    samples: int,
    severity: Severity,
    detail: str,
) -> Breach:
    """A breach of ``rule``, with its identity, threshold and wording taken from the rule."""
    threshold = rule.max_gap_seconds if isinstance(rule, HeartbeatRule) else rule.threshold
    return Breach(
        breach_id=breach_identity(source, rule.id, rule.metric, labels, start),
        rule=rule.id,
        metric=rule.metric,
        labels=labels,
        threshold=threshold,
        unit=rule.unit,
        comparison=rule.comparison,
        observed=observed,
        window_start=start,
        window_end=end,
        samples=samples,
        severity=severity,
        escalation=rule.escalation,
        source=source,
        detail=detail,
    )


def moment(ts: float) -> datetime:
    """A Unix time from an export as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def number_text(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def nan_note(count: int) -> str:
    if not count:
        return ""
    return f"; {count} NaN sample{'s' if count != 1 else ''} ignored"
