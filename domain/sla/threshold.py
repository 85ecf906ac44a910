"""Threshold rules: windows of consecutive samples above an upper bound."""

from __future__ import annotations

from collections.abc import Sequence

from opsledger.domain.sla.breach import Breach, build_breach, moment, nan_note, number_text
from opsledger.domain.sla.policy import ThresholdRule
from opsledger.domain.sla.series import MergedSeries, count_nan


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


def threshold_breaches(
    rule: ThresholdRule, merged: MergedSeries, ts: Sequence[float], vs: Sequence[float]
) -> tuple[list[Breach], int]:
    """Windows of breaching samples in one series, and its NaN count.

    ``samples`` of a breach counts its breaching samples; NaN between them is ignored.
    """
    nan = count_nan(vs)
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
            f"{stat} peaked at {number_text(worst)}{unit}, breaching {rule.comparison}, "
            f"in {len(run)} sample{plural}" + nan_note(count_nan(vs[first : last + 1]))
        )
        breaches.append(
            build_breach(
                rule,
                "prometheus",
                labels,
                moment(ts[first]),
                moment(ts[last]),
                worst,
                len(run),
                rule.severity,
                detail,
            )
        )
    return breaches, nan
