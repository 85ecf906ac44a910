"""Mutated exports, payloads and policies fail only with the SLA packet's typed errors."""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsledger.domain.sla import (
    ExportError,
    Policy,
    PolicyError,
    evaluate,
    load_policy,
    read_alertmanager,
    read_prometheus,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

METRICS = [
    "metrics_execution_latency",
    "metrics_portfolio_drift",
    "metrics_risk_heartbeat",
    "metrics_ingestion_heartbeat",
]
VALUES = st.sampled_from(["1", "120", "120.5", "NaN", "+Inf", "-Inf", "0.6", "-0.6", "0"])
TIMESTAMPS = st.one_of(
    st.integers(1_714_564_800, 1_714_564_800 + 600),
    st.floats(1_714_564_800, 1_714_565_400, allow_nan=False).map(lambda t: round(t, 3)),
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "+Inf", "1e999", "2024-05-01T12:00:00Z", "4", "success"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def prometheus_documents(draw: st.DrawFn) -> dict[str, Any]:
    vector = draw(st.booleans())
    result = []
    for _ in range(draw(st.integers(0, 3))):
        labels = {
            "__name__": draw(st.sampled_from(METRICS)),
            "desk": draw(st.sampled_from(["a", "b"])),
        }
        if vector:
            result.append({"metric": labels, "value": [draw(TIMESTAMPS), draw(VALUES)]})
        else:
            pairs = draw(st.lists(st.tuples(TIMESTAMPS, VALUES), max_size=12))
            result.append({"metric": labels, "values": [list(p) for p in pairs]})
    return {
        "status": "success",
        "data": {"resultType": "vector" if vector else "matrix", "result": result},
    }


@st.composite
def alertmanager_documents(draw: st.DrawFn) -> dict[str, Any]:
    alerts = []
    for _ in range(draw(st.integers(0, 3))):
        alerts.append(
            {
                "status": draw(st.sampled_from(["firing", "resolved"])),
                "labels": {
                    "alertname": "RiskHeartbeatMissing",
                    "sla_rule": draw(st.sampled_from(["risk_heartbeat", "order_latency", "nope"])),
                },
                "annotations": {"value": draw(VALUES)},
                "startsAt": "2024-05-01T12:00:00Z",
                "endsAt": draw(
                    st.sampled_from(["0001-01-01T00:00:00Z", "2024-05-01T12:05:00.5+00:00"])
                ),
                "fingerprint": "ab12",
            }
        )
    return {"version": "4", "status": "firing", "alerts": alerts}


def replace_somewhere(draw: st.DrawFn, doc: Any) -> Any:
    """The document with one node, chosen by walking down at random, replaced."""
    doc = copy.deepcopy(doc)
    replacement = draw(JSON_VALUES)
    if not isinstance(doc, dict | list) or not doc or draw(st.booleans()):
        return replacement
    parent: Any = doc
    while True:
        key = draw(
            st.sampled_from(sorted(parent) if isinstance(parent, dict) else range(len(parent)))
        )
        child = parent[key]
        if isinstance(child, dict | list) and child and draw(st.integers(0, 3)) > 0:
            parent = child
            continue
        if draw(st.integers(0, 4)) == 0 and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = replacement
        return doc


def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(buffer) - 1, 0)))
        if op == "flip" and buffer:
            buffer[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del buffer[at:]
        elif op == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del buffer[at : at + draw(st.integers(1, 8))]
    return bytes(buffer)


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> bytes:
    doc = draw(documents)
    if draw(st.booleans()):
        doc = replace_somewhere(draw, doc)
    data = json.dumps(doc).encode()
    compress_first = draw(st.booleans())
    if compress_first:
        data = gzip.compress(data, mtime=0)
    if draw(st.booleans()):
        data = mutate_bytes(draw, data)
    if not compress_first and draw(st.integers(0, 3)) == 0:
        data = gzip.compress(data, mtime=0)
    return data


@FUZZ
@given(mutated(prometheus_documents()))
def test_prometheus_reader_raises_only_export_errors(data: bytes) -> None:
    try:
        series = read_prometheus(data, "fuzz.json")
    except ExportError as error:
        assert error.source == "fuzz.json" and "\n" not in str(error)
        return
    evaluate(Policy(), series)  # whatever parses must also evaluate


@FUZZ
@given(mutated(alertmanager_documents()))
def test_alertmanager_reader_raises_only_export_errors(data: bytes) -> None:
    try:
        alerts = read_alertmanager(data, "fuzz.jsonl")
    except ExportError as error:
        assert error.source == "fuzz.jsonl" and "\n" not in str(error)
        return
    evaluate(Policy(), alerts=alerts)


PLAUSIBLE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["heartbeat", "threshold", "gauge"]),
    "metric": st.sampled_from(["metrics.x.y", "up", "9bad"]),
    "threshold": st.floats() | st.integers(),
    "interval_seconds": st.floats() | st.integers(-1, 100),
    "max_gap_intervals": st.integers(-1, 5),
    "page_after_misses": st.integers(-1, 5) | st.none(),
    "matchers": st.lists(st.sampled_from(['a="b"', 'a=~"("', "a", 'a!~"x|y"']), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    "severity": st.sampled_from(["warning", "critical", "page", "urgent"]),
    "escalation": st.text(max_size=5),
    "scale": st.floats() | st.integers(-1, 1000),
    "absolute": st.booleans(),
    "enabled": st.booleans(),
    "beat": st.sampled_from(["sample", "increase", "pulse"]),
    "unit": st.text(max_size=3),
    "id": st.sampled_from(["order_latency", "new_rule", "Bad Id"]),
}
RULE_OVERRIDES = st.lists(st.sampled_from(sorted(PLAUSIBLE_FIELDS)), max_size=5).flatmap(
    lambda keys: st.fixed_dictionaries({key: PLAUSIBLE_FIELDS[key] | JSON_VALUES for key in keys})
)
POLICY_DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "desk": st.text(max_size=5) | JSON_VALUES,
        "defaults": st.sampled_from(["runbook", "none"]) | JSON_VALUES,
        "rules": st.dictionaries(
            st.sampled_from(["order_latency", "risk_heartbeat", "new_rule"]),
            RULE_OVERRIDES | JSON_VALUES,
            max_size=3,
        )
        | st.lists(RULE_OVERRIDES, max_size=2)
        | JSON_VALUES,
    },
)


@FUZZ
@given(POLICY_DOCUMENTS, st.booleans())
def test_policy_loader_raises_only_policy_errors(doc: dict[str, Any], as_json: bool) -> None:
    data = json.dumps(doc).encode()
    try:
        policy = load_policy(data, "desk.json" if as_json else "desk.toml")
    except PolicyError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(policy, Policy)
