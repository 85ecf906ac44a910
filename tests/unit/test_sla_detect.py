"""Breach detection, told as the runbook's SLA packet going wrong in small ways."""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from opsledger.domain.sla import (
    Breach,
    EvaluationError,
    Policy,
    Series,
    breach_identity,
    evaluate,
    load_policy,
    read_alertmanager,
    read_prometheus,
)

DATA = Path(__file__).parent.parent / "data" / "sla"
T0 = 1714564800  # 2024-05-01T12:00:00Z
START = datetime(2024, 5, 1, 12, tzinfo=UTC)

LATENCY = "metrics_execution_latency"
DRIFT = "metrics_portfolio_drift"
RISK = "metrics_risk_heartbeat"
INGESTION = "metrics_ingestion_heartbeat"
EXECUTION = "metrics_execution_heartbeat"

Point = tuple[float, str]


def export(
    metric: str | None, points: Sequence[Point], source: str = "export.json", **labels: str
) -> list[Series]:
    """A one-series query_range response, read back the way the CLI will read files."""
    names = {"__name__": metric} if metric else {}
    doc = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {**names, **labels}, "values": [[T0 + t, v] for t, v in points]}],
        },
    }
    return read_prometheus(json.dumps(doc).encode(), source)


def beats(*offsets: float, start: int = 1) -> list[Point]:
    """A heartbeat counter that ticks at each offset (seconds after T0)."""
    return [(t, str(start + i)) for i, t in enumerate(offsets)]


def at(offset: float) -> datetime:
    return START + timedelta(seconds=offset)


def only(breaches: Sequence[Breach]) -> Breach:
    assert len(breaches) == 1, [b.detail for b in breaches]
    return breaches[0]


# -- order latency: p95 < 120 ms ------------------------------------------------------


def test_latency_exactly_at_120_ms_is_compliant_and_just_above_is_a_breach() -> None:
    result = evaluate(
        Policy(), export(LATENCY, [(0, "119.9"), (15, "120"), (30, "120.001"), (45, "80")])
    )
    breach = only(result.breaches)
    assert (breach.rule, breach.observed, breach.samples) == ("order_latency", 120.001, 1)
    assert (breach.window_start, breach.window_end) == (at(30), at(30))
    assert (breach.threshold, breach.unit, breach.comparison) == (120, "ms", "p95 < 120 ms")
    assert breach.severity == "critical"
    assert breach.escalation == "Trigger throttling; escalate to Execution Trader"
    assert breach.source == "prometheus"
    assert breach.detail == "p95 peaked at 120.001 ms, breaching p95 < 120 ms, in 1 sample"


def test_a_breach_window_runs_until_a_compliant_sample_and_reports_the_worst() -> None:
    points = [(0, "100"), (15, "121"), (30, "138.25"), (45, "125"), (60, "119"), (75, "130")]
    first, second = evaluate(Policy(), export(LATENCY, points, desk="rates")).breaches
    assert (first.window_start, first.window_end, first.samples) == (at(15), at(45), 3)
    assert first.observed == 138.25
    assert first.labels == {"desk": "rates"}  # __name__ is in `metric`, not the labels
    assert first.metric == "metrics.execution.latency"
    assert (second.window_start, second.samples) == (at(75), 1)


def test_nan_samples_are_ignored_inside_a_window_but_counted() -> None:
    points = [(0, "130"), (15, "NaN"), (30, "140"), (45, "NaN"), (60, "100")]
    result = evaluate(Policy(), export(LATENCY, points))
    breach = only(result.breaches)
    assert (breach.window_start, breach.window_end, breach.samples) == (at(0), at(30), 2)
    assert breach.detail.endswith("; 1 NaN sample ignored")
    (report,) = result.series
    assert (report.samples, report.nan_samples, report.breaches) == (5, 2, 1)


def test_only_nan_is_no_breach() -> None:
    result = evaluate(Policy(), export(LATENCY, [(0, "NaN"), (15, "NaN")]))
    assert result.breaches == ()
    assert result.series[0].nan_samples == 2


def test_plus_infinity_is_a_breach_and_minus_infinity_is_not() -> None:
    breach = only(
        evaluate(Policy(), export(LATENCY, [(0, "-Inf"), (15, "+Inf"), (30, "90")])).breaches
    )
    assert breach.observed == math.inf and breach.window_start == at(15)
    assert "peaked at +Inf ms" in breach.detail
    assert json.loads(breach.model_dump_json())["observed"] == "Infinity"
    assert Breach.model_validate_json(breach.model_dump_json()) == breach


def test_breaching_samples_far_apart_are_separate_windows() -> None:
    # Nothing is known of the ten minutes without samples, so they are not one window.
    points = [(0, "130"), (15, "131"), (615, "132")]
    first, second = evaluate(Policy(), export(LATENCY, points)).breaches
    assert (first.window_end, second.window_start) == (at(15), at(615))


def test_latency_exported_in_seconds_is_scaled_by_the_desk_policy() -> None:
    policy = load_policy((DATA / "desk_rates.toml").read_bytes(), "desk_rates.toml")
    points = [(0, "0.149"), (15, "0.15"), (30, "0.1505")]
    breach = only(evaluate(policy, export(LATENCY, points, desk="rates", env="dr")).breaches)
    assert breach.observed == pytest.approx(150.5) and breach.threshold == 150
    # The desk's matchers leave other desks' series alone.
    other = evaluate(policy, export(LATENCY, points, desk="fx", env="prod"))
    assert other.breaches == () and other.unmatched_series == (
        'metrics_execution_latency{desk="fx",env="prod"}',
    )


# -- position drift: |drift| < 0.5 % of notional --------------------------------------


def test_drift_is_judged_by_magnitude_and_exactly_half_a_percent_is_compliant() -> None:
    points = [(0, "0.5"), (15, "-0.5"), (30, "-0.62"), (45, "0.55"), (60, "0.1"), (75, "-Inf")]
    first, second = evaluate(Policy(), export(DRIFT, points, book="b1")).breaches
    assert (first.window_start, first.window_end, first.samples) == (at(30), at(45), 2)
    assert first.observed == 0.62
    assert first.comparison == "|drift| < 0.5 % of notional"
    assert first.escalation == "Engage risk officer and evaluate halt"
    assert second.observed == math.inf  # -Inf drift is an infinite magnitude


# -- component heartbeats: no gap > 1 minute, page after 2 consecutive misses ----------


@pytest.mark.parametrize(
    ("gap", "misses", "severity"),
    [
        (60, None, None),
        (60.001, 1, "warning"),
        (61, 1, "warning"),
        (120, 1, "warning"),
        (121, 2, "page"),
        (250, 4, "page"),
    ],
)
def test_heartbeat_gaps_count_missed_minutes_and_page_after_two(
    gap: float, misses: int | None, severity: str | None
) -> None:
    result = evaluate(Policy(), export(INGESTION, beats(0, 30, 30 + gap, 60 + gap)))
    if misses is None:
        assert result.breaches == ()
        return
    breach = only(result.breaches)
    assert (breach.rule, breach.severity) == ("heartbeat_ingestion", severity)
    assert (breach.window_start, breach.window_end) == (at(30), at(30 + gap))
    assert breach.observed == gap and breach.threshold == 60 and breach.unit == "s"
    assert breach.samples == 2  # the beats on either side of the silence
    assert f"{misses} consecutive miss" in breach.detail
    assert breach.escalation == "Page SRE on-call after 2 consecutive misses"


def test_a_counter_reset_is_a_beat_not_a_gap() -> None:
    points = [(0, "500"), (30, "501"), (60, "2"), (90, "3")]  # the process restarted
    result = evaluate(Policy(), export(EXECUTION, points))
    assert result.breaches == ()
    assert result.series[0].resets == 1


def test_a_stuck_counter_misses_beats_when_the_desk_asks_for_increases() -> None:
    policy = load_policy(b'[rules.heartbeat_execution]\nbeat = "increase"\n', "desk.toml")
    points = [(0, "7"), (30, "8"), (60, "8"), (90, "8"), (120, "8"), (150, "9"), (180, "1")]
    breach = only(evaluate(policy, export(EXECUTION, points)).breaches)
    # Stuck from 30 s to 150 s: alive on paper, silent in fact. The reset at 180 s beats.
    assert (breach.window_start, breach.window_end, breach.observed) == (at(30), at(150), 120)
    assert breach.samples == 5 and breach.severity == "warning"


def test_nan_samples_are_not_beats() -> None:
    points = [(0, "1"), (30, "NaN"), (60, "NaN"), (90, "NaN"), (100, "2")]
    breach = only(evaluate(Policy(), export(INGESTION, points)).breaches)
    assert (breach.window_start, breach.window_end, breach.samples) == (at(0), at(100), 5)
    assert breach.detail.endswith("; 3 NaN samples ignored")


def test_a_component_falling_silent_is_caught_against_the_rest_of_the_export() -> None:
    ingestion = export(INGESTION, beats(*range(0, 301, 30)))
    execution = export(EXECUTION, beats(*range(0, 151, 30)))  # dies after 150 s
    breach = only(evaluate(Policy(), ingestion + execution).breaches)
    assert breach.rule == "heartbeat_execution"
    assert (breach.window_start, breach.window_end, breach.severity) == (at(150), at(300), "page")
    assert breach.samples == 1
    assert "still silent at the end of the evaluated range" in breach.detail


def test_the_session_range_exposes_late_starts_and_components_never_seen() -> None:
    points = beats(*range(90, 301, 30))
    result = evaluate(Policy(), export(INGESTION, points), since=at(0), until=at(300))
    late = only(result.breaches)
    assert late.rule == "heartbeat_ingestion"
    assert (late.window_start, late.window_end, late.observed) == (at(0), at(90), 90)
    assert "silent from the start of the evaluated range" in late.detail
    # Components never exported are "no data", not silence: nothing is recorded for them.
    never = {"heartbeat_execution", "heartbeat_feature_store", "risk_heartbeat"}
    assert set(result.rules_without_data) == {*never, "order_latency", "position_drift"}


def test_a_desk_may_say_that_an_absent_heartbeat_means_down() -> None:
    policy = load_policy(b"[rules.heartbeat_execution]\nabsent_is_down = true\n", "p.toml")
    points = beats(*range(90, 301, 30))
    result = evaluate(policy, export(INGESTION, points), since=at(0), until=at(300))
    silent = only([b for b in result.breaches if b.rule == "heartbeat_execution"])
    assert (silent.window_start, silent.window_end, silent.samples) == (at(0), at(300), 0)
    assert silent.severity == "page" and "no matching series in any export" in silent.detail
    assert {b.rule for b in result.breaches} == {"heartbeat_ingestion", "heartbeat_execution"}


def test_samples_outside_the_range_are_not_evaluated() -> None:
    points = [(0, "500"), (30, "100"), (60, "500")]
    result = evaluate(Policy(), export(LATENCY, points), since=at(10), until=at(70))
    breach = only([b for b in result.breaches if b.rule == "order_latency"])
    assert breach.window_start == at(60)
    assert result.series[0].samples == 2


# -- risk service heartbeat: no gap > 3 cycles -----------------------------------------


def test_risk_heartbeat_fixture_shows_one_silence_longer_than_three_cycles() -> None:
    with (DATA / "risk_heartbeat.json.gz").open("rb") as stream:
        series = read_prometheus(stream, "risk_heartbeat.json.gz")
    result = evaluate(Policy(), series)
    breach = only(result.breaches)
    assert (breach.rule, breach.severity) == ("risk_heartbeat", "critical")
    assert (breach.window_start, breach.window_end, breach.observed) == (at(120), at(180), 60)
    assert breach.threshold == 45 and breach.comparison == "no gap > 3 cycles of 15 s"
    assert breach.escalation == "Initiate kill-switch preparation"
    assert "3 consecutive misses of the 15 s interval" in breach.detail
    assert result.series[0].resets == 1


def test_the_risk_cycle_length_comes_from_the_desk() -> None:
    points = beats(0, 5, 20, 36)
    assert evaluate(Policy(), export(RISK, points)).breaches == ()
    policy = load_policy((DATA / "desk_rates.toml").read_bytes(), "desk_rates.toml")
    breach = only(evaluate(policy, export(RISK, points)).breaches)  # cycle 5 s: limit 15 s
    assert (breach.window_start, breach.observed) == (at(20), 16)


# -- merging exports -------------------------------------------------------------------


def test_out_of_order_and_duplicate_samples_are_sorted_and_deduplicated() -> None:
    ordered = [(t, "130" if 30 <= t <= 60 else "100") for t in range(0, 121, 15)]
    shuffled = ordered + ordered[2:5]
    random.Random(7).shuffle(shuffled)
    expected = evaluate(Policy(), export(LATENCY, ordered)).breaches
    result = evaluate(Policy(), export(LATENCY, shuffled))
    assert result.breaches == expected and len(expected) == 1
    (report,) = result.series
    assert (report.samples, report.duplicates, report.conflicts) == (9, 3, 0)
    assert report.out_of_order > 0


def test_overlapping_exports_merge_before_detection() -> None:
    day = [(t, "150" if 300 <= t < 400 else "90") for t in range(0, 1000, 10)]
    morning = export(LATENCY, day[:50], source="morning.json.gz")
    overlap = export(LATENCY, day[30:], source="afternoon.json.gz")
    whole = evaluate(Policy(), export(LATENCY, day))
    merged = evaluate(Policy(), morning + overlap)
    assert merged.breaches == whole.breaches
    assert only(merged.breaches).samples == 10
    (report,) = merged.series
    assert report.sources == ("afternoon.json.gz", "morning.json.gz")
    assert report.duplicates == 20


def test_conflicting_duplicates_resolve_the_same_whatever_the_file_order() -> None:
    a = export(LATENCY, [(0, "100"), (15, "NaN"), (30, "100")], source="a.json")
    b = export(LATENCY, [(0, "100"), (15, "125"), (30, "121")], source="b.json")
    forward, backward = evaluate(Policy(), a + b), evaluate(Policy(), b + a)
    assert forward == backward
    breach = only(forward.breaches)  # a number beats NaN, the larger value wins
    assert (breach.window_start, breach.window_end, breach.observed) == (at(15), at(30), 125)
    assert forward.series[0].conflicts == 2


def test_vector_and_matrix_exports_of_one_series_merge() -> None:
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"__name__": LATENCY}, "value": [T0 + 45, "131"]}],
        },
    }
    instant = read_prometheus(json.dumps(vector).encode(), "now.json")
    breach = only(evaluate(Policy(), export(LATENCY, [(0, "90"), (30, "125")]) + instant).breaches)
    assert (breach.window_start, breach.window_end, breach.samples) == (at(30), at(45), 2)
    # A lone instant sample says nothing about heartbeat gaps.
    lone = {
        **vector,
        "data": {**vector["data"], "result": [{"metric": {"__name__": RISK}, "value": [T0, "1"]}]},
    }
    assert evaluate(Policy(), read_prometheus(json.dumps(lone).encode(), "now.json")).breaches == ()


def test_empty_exports_yield_no_breaches_and_say_which_rules_had_no_data() -> None:
    empty = read_prometheus(b'{"status":"success","data":{"resultType":"matrix","result":[]}}', "e")
    result = evaluate(Policy(), empty)
    assert result.breaches == () and result.series == ()
    assert result.rules_without_data == tuple(rule.id for rule in Policy().rules)


def test_unnamed_series_need_the_callers_metric_hint() -> None:
    unnamed = export(None, [(0, "200")], source="p95.json")
    assert evaluate(Policy(), unnamed).unmatched_series == ("<unnamed>{}",)


# -- identity --------------------------------------------------------------------------


def test_rereading_the_same_export_gives_the_same_breach_ids() -> None:
    data = (DATA / "latency_query_range.json").read_bytes()
    first = evaluate(Policy(), read_prometheus(data, "latency.json"))
    again = evaluate(Policy(), read_prometheus(gzip.compress(data), "copy/latency.json.gz"))
    assert [b.breach_id for b in first.breaches] == [b.breach_id for b in again.breaches]
    assert len({b.breach_id for b in first.breaches}) == len(first.breaches) == 2


def test_a_window_that_grows_in_a_later_export_keeps_its_id() -> None:
    early = evaluate(Policy(), export(LATENCY, [(0, "90"), (15, "130")]))
    later = evaluate(Policy(), export(LATENCY, [(0, "90"), (15, "130"), (30, "150"), (45, "90")]))
    assert only(early.breaches).breach_id == only(later.breaches).breach_id
    assert only(later.breaches).window_end == at(30)


def test_the_identity_covers_source_rule_metric_labels_and_start_only() -> None:
    base = ("prometheus", "order_latency", "metrics.execution.latency", {"desk": "rates"}, START)
    reference = breach_identity(*base)
    assert len(reference) == 64
    assert breach_identity(*base[:4], START.astimezone(timedelta_zone(2))) == reference
    assert breach_identity(base[0], base[1], base[2], {"desk": "rates"}.copy(), START) == reference
    for changed in (
        ("alertmanager", *base[1:]),
        (base[0], "position_drift", *base[2:]),
        (*base[:2], "other.metric", *base[3:]),
        (*base[:3], {"desk": "fx"}, START),
        (*base[:4], START + timedelta(microseconds=1)),
    ):
        assert breach_identity(*changed) != reference


def timedelta_zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_breaches_are_frozen() -> None:
    breach = only(evaluate(Policy(), export(LATENCY, [(0, "130")])).breaches)
    with pytest.raises(pydantic.ValidationError):
        breach.severity = "warning"  # type: ignore[misc]


# -- Alertmanager ----------------------------------------------------------------------


def test_firing_then_resolved_alerts_become_one_breach() -> None:
    alerts = read_alertmanager((DATA / "alertmanager_webhooks.jsonl").read_bytes(), "hooks.jsonl")
    result = evaluate(Policy(), alerts=alerts)
    breach = only(result.breaches)
    assert (breach.rule, breach.source, breach.severity) == (
        "risk_heartbeat",
        "alertmanager",
        "critical",
    )
    assert breach.window_start == datetime(2024, 5, 1, 12, 5, 0, 123456, tzinfo=UTC)
    assert breach.window_end == datetime(2024, 5, 1, 12, 7, 30, tzinfo=UTC)
    assert (breach.observed, breach.samples) == (62, 2)
    assert breach.escalation == "Initiate kill-switch preparation"
    assert breach.detail == (
        "Alertmanager alert RiskHeartbeatMissing resolved: Risk service heartbeat absent for 3 cycles"
    )
    assert result.unmatched_alerts == ("DiskAlmostFull in hooks.jsonl",)
    # The firing notification alone already carries the same identity.
    firing_only = evaluate(Policy(), alerts=alerts[:1])
    assert only(firing_only.breaches).breach_id == breach.breach_id
    assert only(firing_only.breaches).window_end is None  # still going on: no end known


def test_alerts_map_by_alertname_and_may_raise_severity() -> None:
    policy = load_policy((DATA / "desk_rates.toml").read_bytes(), "desk_rates.toml")
    payload = {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ExecutionRejectsHigh", "severity": "page"},
                "annotations": {"description": "rejects\nabove 2 %"},
                "startsAt": "2024-05-01T12:00:00Z",
            }
        ],
    }
    alerts = read_alertmanager(json.dumps(payload).encode(), "hook.json")
    breach = only(evaluate(policy, alerts=alerts).breaches)
    assert (breach.rule, breach.severity, breach.unit) == ("reject_ratio", "page", "%")
    assert math.isnan(breach.observed)
    assert breach.detail == (
        "Alertmanager alert ExecutionRejectsHigh firing (value not reported): rejects above 2 %"
    )
    assert evaluate(Policy(), alerts=alerts).unmatched_alerts == (
        "ExecutionRejectsHigh in hook.json",
    )


def test_alerts_outside_the_range_are_left_out() -> None:
    alerts = read_alertmanager((DATA / "alertmanager_webhooks.jsonl").read_bytes(), "hooks.jsonl")
    assert evaluate(Policy(), alerts=alerts, since=at(3600)).breaches == ()
    assert evaluate(Policy(), alerts=alerts, until=at(60)).breaches == ()


# -- the evaluation itself -------------------------------------------------------------


def test_breaches_are_sorted_by_window_start() -> None:
    latency = export(LATENCY, [(0, "90"), (60, "130"), (75, "90")])
    drift = export(DRIFT, [(0, "0.9"), (15, "0.1")])
    result = evaluate(Policy(), latency + drift)
    assert [b.rule for b in result.breaches] == ["position_drift", "order_latency"]


def test_disabled_rules_are_not_evaluated() -> None:
    policy = load_policy(b"[rules.position_drift]\nenabled = false\n", "d.toml")
    result = evaluate(policy, export(DRIFT, [(0, "0.9")]))
    assert result.breaches == () and result.unmatched_series == ("metrics_portfolio_drift{}",)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (datetime(2024, 5, 1), None, "since must be timezone-aware"),
        (None, datetime(2024, 5, 1), "until must be timezone-aware"),
        (at(10), at(0), "since is after until"),
    ],
)
def test_an_impossible_range_is_refused(
    since: datetime | None, until: datetime | None, message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(Policy(), since=since, until=until)
