"""The SLA policy: runbook defaults, desk overrides, and one-line validation errors."""

from __future__ import annotations

import io
from pathlib import Path

import pydantic
import pytest
from opsledger.domain.sla import (
    HeartbeatRule,
    Matcher,
    Policy,
    PolicyError,
    ThresholdRule,
    load_policy,
)

DATA = Path(__file__).parent.parent / "data" / "sla"


def test_defaults_are_the_runbook_sla_packet() -> None:
    policy = Policy()
    assert [rule.id for rule in policy.rules] == [
        "heartbeat_ingestion",
        "heartbeat_feature_store",
        "heartbeat_execution",
        "order_latency",
        "position_drift",
        "risk_heartbeat",
    ]
    for component in ("ingestion", "feature_store", "execution"):
        beat = policy.rule(f"heartbeat_{component}")
        assert isinstance(beat, HeartbeatRule)
        # No gaps > 1 minute; page the SRE on-call after 2 consecutive misses.
        assert (beat.interval_seconds, beat.max_gap_intervals, beat.max_gap_seconds) == (60, 1, 60)
        assert beat.page_after_misses == 2
        assert beat.escalation == "Page SRE on-call after 2 consecutive misses"

    latency = policy.rule("order_latency")
    assert isinstance(latency, ThresholdRule)
    assert (latency.metric, latency.threshold, latency.unit) == (
        "metrics.execution.latency",
        120,
        "ms",
    )
    assert latency.comparison == "p95 < 120 ms"
    assert latency.escalation == "Trigger throttling; escalate to Execution Trader"

    drift = policy.rule("position_drift")
    assert isinstance(drift, ThresholdRule)
    assert (drift.metric, drift.threshold, drift.absolute) == ("metrics.portfolio.drift", 0.5, True)
    assert drift.comparison == "|drift| < 0.5 % of notional"
    assert drift.escalation == "Engage risk officer and evaluate halt"

    risk = policy.rule("risk_heartbeat")
    assert isinstance(risk, HeartbeatRule)
    assert (risk.metric, risk.max_gap_intervals) == ("metrics.risk.heartbeat", 3)
    assert risk.comparison == "no gap > 3 cycles of 15 s"
    assert risk.escalation == "Initiate kill-switch preparation"
    assert risk.severity == "critical"


def test_desk_toml_overrides_only_what_it_names() -> None:
    policy = load_policy((DATA / "desk_rates.toml").read_bytes(), "desk_rates.toml")
    assert policy.desk == "rates"
    latency = policy.rule("order_latency")
    assert isinstance(latency, ThresholdRule)
    assert (latency.threshold, latency.scale) == (150, 1000)
    assert latency.escalation == Policy().rule("order_latency").escalation  # untouched default
    assert [str(m) for m in latency.matchers] == ['desk="rates"', 'env=~"prod|dr"']
    assert policy.rule("risk_heartbeat").interval_seconds == 5  # type: ignore[union-attr]
    assert policy.rule("position_drift").enabled is False
    assert policy.rule("reject_ratio").alertnames == ("ExecutionRejectsHigh",)


def test_json_and_toml_forms_give_the_same_policy() -> None:
    from_toml = load_policy((DATA / "desk_rates.toml").read_bytes(), "desk_rates.toml")
    with (DATA / "desk_rates.json").open("rb") as stream:
        from_json = load_policy(stream, "desk_rates.json")
    assert from_json == from_toml


def test_format_is_sniffed_when_the_name_says_nothing() -> None:
    assert load_policy(b'{"desk": "fx"}', "stdin").desk == "fx"
    assert load_policy(b'desk = "fx"', "stdin").desk == "fx"


def test_a_desk_may_start_from_no_defaults() -> None:
    doc = b"""
defaults = "none"
[rules.gateway_beat]
kind = "heartbeat"
metric = "gateway_up"
interval_seconds = 10
severity = "page"
escalation = "Call the gateway owner"
"""
    policy = load_policy(doc, "gateway.toml")
    assert [rule.id for rule in policy.rules] == ["gateway_beat"]


def test_a_dumped_policy_loads_back_unchanged() -> None:
    policy = load_policy((DATA / "desk_rates.toml").read_bytes(), "desk_rates.toml")
    dumped = policy.model_dump_json().encode()
    assert load_policy(dumped, "dump.json") == policy


def test_matchers_follow_prometheus_semantics() -> None:
    regex = Matcher(label="env", op="=~", value="prod|dr")
    assert regex.matches({"env": "prod"})
    assert not regex.matches({"env": "production"})  # anchored, like Prometheus
    assert Matcher(label="env", op="!~", value="dev.*").matches({})
    assert Matcher(label="desk", op="=", value="").matches({})  # absent label is ""
    assert Matcher(label="desk", op="!=", value="fx").matches({"desk": "rates"})


def test_metric_names_match_with_dots_or_underscores() -> None:
    latency = Policy().rule("order_latency")
    assert latency.selects("metrics_execution_latency", {})
    assert latency.selects("metrics.execution.latency", {})
    assert not latency.selects("metrics_execution_latency_bucket", {})
    assert not latency.selects(None, {})


def test_policies_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        Policy().rule("order_latency").threshold = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "document", "expected"),
    [
        (
            "d.toml",
            b"[rules.order_latency]\nthreshold = -inf\n",
            "rules.order_latency.threshold: Input should be a finite number",
        ),
        (
            "d.toml",
            b"[rules.order_latency]\nthresold = 100\n",
            "rules.order_latency.thresold: Extra inputs are not permitted",
        ),
        (
            "d.toml",
            b'[rules.new_rule]\nmetric = "x"\n',
            'rules.new_rule: kind must be "heartbeat" or "threshold" (a new rule must name it)',
        ),
        (
            "d.toml",
            b"[rules.risk_heartbeat]\ninterval_seconds = 0\n",
            "rules.risk_heartbeat.interval_seconds: Input should be greater than or equal to 0.001",
        ),
        (
            "d.toml",
            b'[rules.risk_heartbeat]\nseverity = "urgent"\n',
            "rules.risk_heartbeat.severity: Input should be 'warning', 'critical' or 'page'",
        ),
        (
            "d.toml",
            b"[rules.order_latency]\nmatchers = ['env=~\"(\"']\n",
            "rules.order_latency.matchers.0: bad regular expression '('",
        ),
        (
            "d.toml",
            b"[rules.order_latency]\nmatchers = ['env ~ prod']\n",
            'is not of the form label="value"',
        ),
        ("d.toml", b"[rules.Order]\nthreshold = 1\n", "rules.Order: kind must be"),
        ("d.toml", b"desks = 'fx'\n", "unknown key(s) desks"),
        ("d.toml", b"[rules.order_latency]\nkind = 'gauge'\n", "rules.order_latency: kind must be"),
        ("d.toml", b"defaults = 'latest'\n", "defaults must be 'runbook' or 'none'"),
        ("d.toml", b"rules = 3\n", "rules must be a table keyed by rule id"),
        (
            "d.toml",
            b"[rules.order_latency]\nid = 'other'\n",
            "rules.order_latency has a different id 'other'",
        ),
        ("d.toml", b"desk = \n", "TOML syntax: Invalid value (at line 1, column 8)"),
        ("d.json", b'{"desk": "fx",\n "rules": [}', "JSON syntax at line 2 column 12"),
        (
            "d.json",
            b'{"rules": [{"id": "x"}, {"id": "x", "kind": "heartbeat"}]}',
            "rule id 'x' appears twice",
        ),
        ("d.json", b'{"desk": NaN}', "NaN is not valid JSON"),
        ("d.json", b'["desk"]', "the document must be a table/object"),
        ("d.json", b'{"desk": "\xff"}', "not UTF-8 at byte 10"),
        (
            "d.json",
            b'{"defaults": "none", "rules": {}}',
            "rules: Tuple should have at least 1 item",
        ),
    ],
)
def test_bad_policies_raise_one_line_errors_naming_file_and_field(
    name: str, document: bytes, expected: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(io.BytesIO(document), name)
    message = str(caught.value)
    assert message.startswith(f"{name}: invalid SLA policy: ")
    assert expected in message
    assert "\n" not in message


def test_duplicate_rule_ids_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="rule id 'order_latency' appears twice"):
        Policy(rules=(Policy().rule("order_latency"), Policy().rule("order_latency")))
