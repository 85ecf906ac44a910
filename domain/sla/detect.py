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
* A heartbeat rule that matches no series at all breaches for the whole range when both
  ``since`` and ``until`` are given; otherwise it is listed in ``rules_without_data``.
* Alerts map to a rule by an ``sla_rule`` label equal to the rule id, else by alertname.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import lt, sub

from pydantic import BaseModel, ConfigDict

from domain.sla.alertmanager import Alert
from domain.sla.breach import Breach, BreachSource, breach_identity
from domain.sla.errors import EvaluationError
from domain.sla.policy import SEVERITY_RANK, HeartbeatRule, Policy, Severity, ThresholdRule
from domain.sla.series import MergedSeries, Series, describe, merge_series

Rule = HeartbeatRule | ThresholdRule


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
    unmatched: list[str] = []
    for merged in merge_series(series):
        labels = dict(merged.labels)
        hits = [rule for rule in rules if rule.selects(merged.metric, labels)]
        for rule in hits:
            matched[rule.id].append(merged)
        if not hits:
            unmatched.append(describe(merged.metric, merged.labels))

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
            if isinstance(rule, HeartbeatRule) and since_ts is not None and until_ts is not None:
                breaches.extend(_silent_rule(rule, since_ts, until_ts))
            continue
        for merged in found:
            ts, vs = windows[id(merged)]
            if isinstance(rule, HeartbeatRule):
                found_breaches, nan, resets = _heartbeat(
                    rule, merged, ts, vs, range_start, range_end
                )
            else:
                found_breaches, nan = _threshold(rule, merged, ts, vs)
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

    alert_breaches, unmatched_alerts = _alert_breaches(rules, alerts, since, until)
    breaches.extend(alert_breaches)
    breaches.sort(key=lambda b: (b.window_start, b.rule, b.breach_id))
    return Evaluation(
        breaches=tuple(breaches),
        series=tuple(reports),
        rules_without_data=tuple(without_data),
        unmatched_series=tuple(unmatched),
        unmatched_alerts=unmatched_alerts,
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


def _moment(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _count_nan(values: Iterable[float]) -> int:
    return sum(map(math.isnan, values))


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def _nan_note(count: int) -> str:
    if not count:
        return ""
    return f"; {count} NaN sample{'s' if count != 1 else ''} ignored"


def _breach(
    rule: Rule,
    source: BreachSource,
    labels: dict[str, str],
    start: datetime,
    end: datetime,
    observed: float,
    samples: int,
    severity: Severity,
    detail: str,
) -> Breach:
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


def _beats(rule: HeartbeatRule, ts: Sequence[float], vs: Sequence[float], nan: int) -> list[float]:
    if rule.beat == "sample":
        return list(ts) if nan == 0 else [t for t, v in zip(ts, vs, strict=True) if v == v]
    beats: list[float] = []
    previous: float | None = None
    for t, v in zip(ts, vs, strict=True):
        if v != v:
            continue
        # A stuck counter is not alive; a decrease is a restart, which is.
        if previous is None or v != previous:
            beats.append(t)
        previous = v
    return beats


def _gap_severity(rule: HeartbeatRule, misses: int) -> Severity:
    if rule.page_after_misses is not None and misses >= rule.page_after_misses:
        return "page" if SEVERITY_RANK["page"] > SEVERITY_RANK[rule.severity] else rule.severity
    return rule.severity


def _gap_detail(rule: HeartbeatRule, gap: float, misses: int, edge: str, nan: int) -> str:
    plural = "es" if misses != 1 else ""
    text = (
        f"no beat for {gap:g} s (limit {rule.max_gap_seconds:g} s): {misses} consecutive "
        f"miss{plural} of the {rule.interval_seconds:g} s interval"
    )
    if rule.page_after_misses is not None and misses >= rule.page_after_misses:
        text += f", paging threshold of {rule.page_after_misses} reached"
    return text + edge + _nan_note(nan)


def _heartbeat(
    rule: HeartbeatRule,
    merged: MergedSeries,
    ts: Sequence[float],
    vs: Sequence[float],
    start_ts: float | None,
    end_ts: float | None,
) -> tuple[list[Breach], int, int]:
    nan = _count_nan(vs)
    numbers = [v for v in vs if v == v] if nan else vs
    resets = sum(map(lt, numbers[1:], numbers))
    beats = _beats(rule, ts, vs, nan)
    if start_ts is None or end_ts is None:
        return [], nan, resets
    points = [start_ts, *beats, end_ts]

    limit_ms = round(rule.max_gap_seconds * 1000)
    interval_ms = max(1, round(rule.interval_seconds * 1000))
    # Float prefilter with slack; the decision is taken below on whole milliseconds.
    slack = rule.max_gap_seconds - 0.002
    labels = dict(merged.labels)
    breaches = []
    for k in [k for k, gap in enumerate(map(sub, points[1:], points)) if gap > slack]:
        left, right = points[k], points[k + 1]
        gap_ms = round(right * 1000) - round(left * 1000)
        if gap_ms <= limit_ms:
            continue
        misses = (gap_ms - 1) // interval_ms
        edge = ""
        if k == 0:
            edge = "; silent from the start of the evaluated range"
        if k + 1 == len(points) - 1:
            edge += "; still silent at the end of the evaluated range"
        lo, hi = bisect_left(ts, left), bisect_right(ts, right)
        breaches.append(
            _breach(
                rule,
                "prometheus",
                labels,
                _moment(left),
                _moment(right),
                gap_ms / 1000,
                hi - lo,
                _gap_severity(rule, misses),
                _gap_detail(rule, gap_ms / 1000, misses, edge, _count_nan(vs[lo:hi])),
            )
        )
    return breaches, nan, resets


def _silent_rule(rule: HeartbeatRule, since_ts: float, until_ts: float) -> list[Breach]:
    gap_ms = round(until_ts * 1000) - round(since_ts * 1000)
    if gap_ms <= round(rule.max_gap_seconds * 1000):
        return []
    misses = (gap_ms - 1) // max(1, round(rule.interval_seconds * 1000))
    labels = {m.label: m.value for m in rule.matchers if m.op == "="}
    edge = "; no matching series in any export"
    return [
        _breach(
            rule,
            "prometheus",
            labels,
            _moment(since_ts),
            _moment(until_ts),
            gap_ms / 1000,
            0,
            _gap_severity(rule, misses),
            _gap_detail(rule, gap_ms / 1000, misses, edge, 0),
        )
    ]


def _violations(rule: ThresholdRule, vs: Sequence[float]) -> list[int]:
    # NaN compares false, so NaN samples never breach; +Inf always does.
    limit, scale = rule.threshold, rule.scale
    if rule.absolute:
        if scale == 1.0:
            return [k for k, v in enumerate(vs) if abs(v) > limit]
        return [k for k, v in enumerate(vs) if abs(v) * scale > limit]
    if scale == 1.0:
        return [k for k, v in enumerate(vs) if v > limit]
    return [k for k, v in enumerate(vs) if v * scale > limit]


def _threshold(
    rule: ThresholdRule, merged: MergedSeries, ts: Sequence[float], vs: Sequence[float]
) -> tuple[list[Breach], int]:
    nan = _count_nan(vs)
    runs: list[list[int]] = []
    for k in _violations(rule, vs):
        if runs:
            previous = runs[-1][-1]
            # Same window only if nothing but NaN lies between and no long silence does.
            between = vs[previous + 1 : k]
            if ts[k] - ts[previous] <= rule.split_gap_seconds and all(v != v for v in between):
                runs[-1].append(k)
                continue
        runs.append([k])
    labels = dict(merged.labels)
    breaches = []
    for run in runs:
        worst = max(abs(vs[k]) if rule.absolute else vs[k] for k in run) * rule.scale
        first, last = run[0], run[-1]
        stat = f"|{rule.statistic}|" if rule.absolute else rule.statistic
        unit = f" {rule.unit}" if rule.unit else ""
        plural = "s" if len(run) != 1 else ""
        detail = (
            f"{stat} peaked at {_number(worst)}{unit}, breaching {rule.comparison}, "
            f"in {len(run)} sample{plural}" + _nan_note(_count_nan(vs[first : last + 1]))
        )
        breaches.append(
            _breach(
                rule,
                "prometheus",
                labels,
                _moment(ts[first]),
                _moment(ts[last]),
                worst,
                len(run),
                rule.severity,
                detail,
            )
        )
    return breaches, nan


def _alert_rule(rules: Sequence[Rule], alert: Alert) -> Rule | None:
    labels = dict(alert.labels)
    tagged = labels.get("sla_rule")
    for rule in rules:
        if tagged is not None and tagged == rule.id:
            return rule
    if tagged is None:
        for rule in rules:
            if alert.alertname in rule.alertnames:
                return rule
    return None


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alert_breaches(
    rules: Sequence[Rule],
    alerts: Iterable[Alert],
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[Breach], tuple[str, ...]]:
    # One breach per (rule, labels, start): repeats and the later "resolved" notification
    # of the same alert fold into it, keeping the latest known end.
    chosen: dict[str, tuple[Rule, Alert, int]] = {}
    unmatched: set[str] = set()
    for alert in alerts:
        rule = _alert_rule(rules, alert)
        if rule is None:
            unmatched.add(f"{alert.alertname or '<no alertname>'} in {alert.source}")
            continue
        end = _alert_end(alert)
        if (until is not None and alert.starts_at > until) or (since is not None and end < since):
            continue
        key = breach_identity(
            "alertmanager", rule.id, rule.metric, dict(alert.labels), alert.starts_at
        )
        if key in chosen:
            _, kept, count = chosen[key]
            better = (_alert_end(alert), alert.status == "resolved", alert.source) > (
                _alert_end(kept),
                kept.status == "resolved",
                kept.source,
            )
            chosen[key] = (rule, alert if better else kept, count + 1)
        else:
            chosen[key] = (rule, alert, 1)

    breaches = []
    for rule, alert, count in chosen.values():
        annotations = dict(alert.annotations)
        try:
            observed = float(annotations.get("value", "nan"))
        except ValueError:
            observed = math.nan
        labels = dict(alert.labels)
        severity = labels.get("severity")
        if severity not in SEVERITY_RANK:
            severity = rule.severity
        summary = annotations.get("summary") or annotations.get("description") or ""
        detail = f"Alertmanager alert {alert.alertname or '<no alertname>'} {alert.status}"
        if math.isnan(observed):
            detail += " (value not reported)"
        if summary:
            detail += f": {_one_line(summary)}"
        breaches.append(
            _breach(
                rule,
                "alertmanager",
                labels,
                alert.starts_at,
                _alert_end(alert),
                observed,
                count,
                severity,  # type: ignore[arg-type]
                detail,
            )
        )
    return breaches, tuple(sorted(unmatched))


def _alert_end(alert: Alert) -> datetime:
    # A firing alert's endsAt is only Alertmanager's guess at expiry, not an observed end.
    if alert.status == "resolved" and alert.ends_at is not None:
        return alert.ends_at
    return alert.starts_at
