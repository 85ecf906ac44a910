"""A breach's chart shows what the SLA packet judged: the samples around the
window on the rule's own scale, a heartbeat as the gap since the beat before."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from opsledger.domain.sla import Policy, merge_series, read_prometheus
from opsledger.services.breach_chart import _thin, breach_series

T0 = 1795435200.0  # 2026-11-23T12:00:00Z


def export(name: str, samples: list[tuple[float, float]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": name, "strategy": "momo-1"},
         "values": [[t, str(v)] for t, v in samples]}]}}).encode()


def breach(rule: str, metric: str, start: float, end: float, threshold: float, unit: str) -> dict:
    iso = "%Y-%m-%dT%H:%M:%S.000000Z"
    return {"breach_id": rule * 4, "ticket": "CHG-2041", "rule": rule, "metric": metric,
            "labels": {"strategy": "momo-1"}, "threshold": threshold, "unit": unit,
            "comparison": "", "window_start": datetime.fromtimestamp(start, UTC).strftime(iso),
            "window_end": datetime.fromtimestamp(end, UTC).strftime(iso)}


def test_a_latency_breach_is_charted_around_its_window_on_the_rules_scale():
    samples = [(T0 + 15 * i, 150.0 if 240 <= i <= 247 else 60.0) for i in range(480)]
    series = merge_series(read_prometheus(export("metrics_execution_latency", samples), "m.json"))
    start, end = T0 + 15 * 240, T0 + 15 * 247
    chart = breach_series(breach("order_latency", "metrics.execution.latency", start, end,
                                 120.0, "ms"), series, policy=Policy(), sources=["m.json"])
    assert chart["note"] is None and not chart["step"]
    times = [t for t, _ in chart["points"]]
    assert min(times) >= start - 600 and max(times) <= end + 600  # ten minutes either side
    # ten minutes of 15 s samples either side, and the eight of the window
    assert chart["samples"] == len(chart["points"]) == 40 + 8 + 40
    inside = [v for t, v in chart["points"] if start <= t <= end]
    assert inside and set(inside) == {150.0}


def test_a_heartbeat_is_charted_as_the_gap_since_the_beat_before():
    beats = [T0 + 15 * i for i in range(100)]
    beats = [t for t in beats if not (T0 + 600 < t < T0 + 765)]  # silent for 165 s
    series = merge_series(read_prometheus(
        export("metrics_execution_heartbeat", [(t, t - T0) for t in beats]), "m.json"))
    chart = breach_series(breach("heartbeat_execution", "metrics.execution.heartbeat",
                                 T0 + 600, T0 + 765, 60.0, "s"),
                          series, policy=Policy(), sources=["m.json"])
    assert chart["step"] and chart["quantity"] == "seconds since the previous beat"
    assert max(v for _, v in chart["points"]) == 165.0
    assert {v for _, v in chart["points"]} == {15.0, 165.0}


def test_no_snapshot_is_said_not_drawn():
    chart = breach_series(breach("order_latency", "metrics.execution.latency", T0, T0 + 60,
                                 120.0, "ms"), [], policy=Policy(), sources=[])
    assert chart["points"] == [] and "no metrics snapshot" in chart["note"]


def test_thinning_keeps_the_spike():
    points = [(float(i), 1.0) for i in range(10_000)]
    points[7_777] = (7_777.0, 99.0)
    thin = _thin(points, 720)
    assert len(thin) <= 720 and (7_777.0, 99.0) in thin
