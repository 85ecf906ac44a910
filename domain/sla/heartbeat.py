"""Heartbeat rules: gaps between beats, counted as missed intervals."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import lt, sub

from opsledger.domain.sla.breach import Breach, build_breach, moment, nan_note
from opsledger.domain.sla.policy import HeartbeatRule, Severity
from opsledger.domain.sla.series import MergedSeries, count_nan


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
        return "page"
    return rule.severity


def _gap_detail(rule: HeartbeatRule, gap: float, misses: int, edge: str, nan: int) -> str:
    plural = "es" if misses != 1 else ""
    text = (
        f"no beat for {gap:g} s (limit {rule.max_gap_seconds:g} s): {misses} consecutive "
        f"miss{plural} of the {rule.interval_seconds:g} s interval"
    )
    if rule.page_after_misses is not None and misses >= rule.page_after_misses:
        text += f", paging threshold of {rule.page_after_misses} reached"
    return text + edge + nan_note(nan)


def heartbeat_breaches(
    rule: HeartbeatRule,
    merged: MergedSeries,
    ts: Sequence[float],
    vs: Sequence[float],
    start_ts: float | None,
    end_ts: float | None,
) -> tuple[list[Breach], int, int]:
    """Gaps longer than the rule allows in one series, with its NaN and reset counts.

    Gaps are measured on whole milliseconds from ``start_ts`` to the first beat, between
    beats, and from the last beat to ``end_ts``.
    """
    nan = count_nan(vs)
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
            build_breach(
                rule,
                "prometheus",
                labels,
                moment(left),
                moment(right),
                gap_ms / 1000,
                hi - lo,
                _gap_severity(rule, misses),
                _gap_detail(rule, gap_ms / 1000, misses, edge, count_nan(vs[lo:hi])),
            )
        )
    return breaches, nan, resets


def silent_rule_breaches(rule: HeartbeatRule, since_ts: float, until_ts: float) -> list[Breach]:
    """The whole range as one gap, for a rule that matched no series at all."""
    gap_ms = round(until_ts * 1000) - round(since_ts * 1000)
    if gap_ms <= round(rule.max_gap_seconds * 1000):
        return []
    misses = (gap_ms - 1) // max(1, round(rule.interval_seconds * 1000))
    labels = {m.label: m.value for m in rule.matchers if m.op == "="}
    edge = "; no matching series in any export"
    return [
        build_breach(
            rule,
            "prometheus",
            labels,
            moment(since_ts),
            moment(until_ts),
            gap_ms / 1000,
            0,
            _gap_severity(rule, misses),
            _gap_detail(rule, gap_ms / 1000, misses, edge, 0),
        )
    ]


def beat_times(rule: HeartbeatRule, ts: Sequence[float], vs: Sequence[float]) -> list[float]:
    """The moments this rule counts as beats: a chart of a heartbeat plots the
    gaps between them against the rule's limit."""
    return _beats(rule, ts, vs, count_nan(vs))
