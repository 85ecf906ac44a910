"""Breach detection: merged series and alerts in, breaches and a data-quality report out.

Rules of evaluation, beyond those stated in ``policy``:

* Exports are merged first (``merge_series``): samples sorted, one per timestamp.
* NaN samples are ignored everywhere (they neither beat nor breach nor end a breach
  window) and are counted per series in the report.
* ``since``/``until`` bound the evaluated range; each defaults to the earliest/latest
  sample of any matched series in any export. Heartbeat gaps are also measured from the
  range start to the first beat and from the last beat to the range end, so a component
  that falls silent while other series carry on is caught. Pass both when exports of
  different metrics cover different spans, or a short export raises edge breaches.
* A rule that matches no series at all is listed in ``rules_without_data`` and records
  nothing: a series missing from the exports is a gap in what was exported, not proof
  that the component was down. Silence is a breach only when the series is exported
  and stops, or when a heartbeat rule says ``absent_is_down``: then the whole range
  (``since``/``until``, else the exports' span) is one gap.
* Series that match no enabled rule are dropped as they are read (only their names are
  kept, in ``unmatched_series``), so they cost no memory.
* Alerts map to a rule by an ``sla_rule`` or ``guardrail`` label equal to the rule id,
  else by alertname (``alert_breaches``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import datetime

from opsledger.domain.sla.alert_breaches import alert_breaches
from opsledger.domain.sla.alertmanager import Alert
from opsledger.domain.sla.breach import Breach
from opsledger.domain.sla.errors import EvaluationError
from opsledger.domain.sla.heartbeat import heartbeat_breaches, silent_rule_breaches
from opsledger.domain.sla.policy import HeartbeatRule, Policy
from opsledger.domain.sla.series import MergedSeries, Series, describe, merge_series
from opsledger.domain.sla.threshold import threshold_breaches
from pydantic import BaseModel, ConfigDict


class SeriesReport(BaseModel):
    """What one rule saw of one series: the evidence behind "no breach"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    metric: str
    labels: dict[str, str]
    sources: tuple[str, ...]
    samples: int
    nan_samples: int
    resets: int  # counter decreases (heartbeat rules only)
    duplicates: int
    conflicts: int
    out_of_order: int
    breaches: int


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    breaches: tuple[Breach, ...]
    series: tuple[SeriesReport, ...]
    rules_without_data: tuple[str, ...]
    unmatched_series: tuple[str, ...]
    unmatched_alerts: tuple[str, ...]
    matched_alerts: int = 0


def evaluate(
    policy: Policy,
    series: Iterable[Series] = (),
    alerts: Iterable[Alert] = (),
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Evaluation:
    """Every breach of ``policy`` in the given series and alerts, sorted by window start."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise EvaluationError(f"{name} must be timezone-aware")
    if since is not None and until is not None and since > until:
        raise EvaluationError("since is after until")
    since_ts = since.timestamp() if since is not None else None
    until_ts = until.timestamp() if until is not None else None
    rules = [rule for rule in policy.rules if rule.enabled]

    matched: dict[str, list[MergedSeries]] = {rule.id: [] for rule in rules}
    unmatched: dict[str, None] = {}

    def selected(one: Series) -> bool:
        if any(rule.selects(one.metric, dict(one.labels)) for rule in rules):
            return True
        unmatched[describe(one.metric, one.labels)] = None
        return False

    for merged in merge_series(one for one in series if selected(one)):
        labels = dict(merged.labels)
        for rule in rules:
            if rule.selects(merged.metric, labels):
                matched[rule.id].append(merged)

    windows = {id(m): _window(m, since_ts, until_ts) for ms in matched.values() for m in ms}
    # Without an explicit range, the exports' own span is the range, so that a heartbeat
    # that falls silent while other series carry on is still caught.
    range_start = since_ts
    if range_start is None:
        range_start = min((ts[0] for ts, _ in windows.values() if ts), default=None)
    range_end = until_ts
    if range_end is None:
        range_end = max((ts[-1] for ts, _ in windows.values() if ts), default=None)

    breaches: list[Breach] = []
    reports: list[SeriesReport] = []
    without_data: list[str] = []
    for rule in rules:
        found = matched[rule.id]
        if not found:
            without_data.append(rule.id)
            down = isinstance(rule, HeartbeatRule) and rule.absent_is_down
            if down and range_start is not None and range_end is not None:
                breaches.extend(silent_rule_breaches(rule, range_start, range_end))
            continue
        for merged in found:
            ts, vs = windows[id(merged)]
            if isinstance(rule, HeartbeatRule):
                found_breaches, nan, resets = heartbeat_breaches(
                    rule, merged, ts, vs, range_start, range_end
                )
            else:
                found_breaches, nan = threshold_breaches(rule, merged, ts, vs)
                resets = 0
            breaches.extend(found_breaches)
            reports.append(
                SeriesReport(
                    rule=rule.id,
                    metric=merged.metric or rule.metric,
                    labels=dict(merged.labels),
                    sources=merged.sources,
                    samples=len(ts),
                    nan_samples=nan,
                    resets=resets,
                    duplicates=merged.duplicates,
                    conflicts=merged.conflicts,
                    out_of_order=merged.out_of_order,
                    breaches=len(found_breaches),
                )
            )

    from_alerts, unmatched_alerts, matched_alerts = alert_breaches(rules, alerts, since, until)
    breaches.extend(from_alerts)
    breaches.sort(key=lambda b: (b.window_start, b.rule, b.breach_id))
    return Evaluation(
        breaches=tuple(breaches),
        series=tuple(reports),
        rules_without_data=tuple(without_data),
        unmatched_series=tuple(sorted(unmatched)),
        unmatched_alerts=unmatched_alerts,
        matched_alerts=matched_alerts,
    )


def _window(
    merged: MergedSeries, since_ts: float | None, until_ts: float | None
) -> tuple[Sequence[float], Sequence[float]]:
    ts, vs = merged.timestamps, merged.values
    lo = 0 if since_ts is None else bisect_left(ts, since_ts)
    hi = len(ts) if until_ts is None else bisect_right(ts, until_ts)
    if lo == 0 and hi == len(ts):
        return ts, vs
    return ts[lo:hi], vs[lo:hi]
