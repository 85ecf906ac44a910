"""Which rule an Alertmanager alert breaches, and in which unit its value is."""

from __future__ import annotations

import json
import math

from opsledger.domain.sla import Policy, evaluate, load_policy, read_alertmanager


def hook(*alerts: dict) -> bytes:
    return json.dumps({"version": "4", "alerts": list(alerts)}).encode()


def alert(labels: dict[str, str], value: str | None = None, status: str = "firing") -> dict:
    out = {"status": status, "labels": labels, "startsAt": "2026-11-23T14:00:00Z"}
    if value is not None:
        out["annotations"] = {"value": value}
    return out


SECONDS = load_policy(b"[rules.order_latency]\nscale = 1000\n"
                      b"[rules.position_drift]\nalertnames = ['DriftHigh']\nscale = 100\n",
                      "p.toml")


def test_an_alert_value_is_scaled_into_the_rule_unit_like_a_sample() -> None:
    alerts = read_alertmanager(hook(alert({"sla_rule": "order_latency"}, "0.143")), "h")
    (breach,) = evaluate(SECONDS, alerts=alerts).breaches
    assert (breach.observed, breach.unit) == (143.0, "ms")
    assert "value 0.143 × scale 1000" in breach.detail


def test_an_absolute_rule_takes_the_magnitude_of_an_alert_value() -> None:
    alerts = read_alertmanager(hook(alert({"alertname": "DriftHigh"}, "-0.009")), "h")
    (breach,) = evaluate(SECONDS, alerts=alerts).breaches
    assert breach.rule == "position_drift" and math.isclose(breach.observed, 0.9)


def test_labels_select_the_rule_sla_rule_first_then_guardrail_then_alertname() -> None:
    alerts = read_alertmanager(hook(
        alert({"alertname": "DriftHigh", "guardrail": "risk_heartbeat"}),
        alert({"alertname": "X", "sla_rule": "order_latency", "guardrail": "risk_heartbeat"}),
        alert({"alertname": "DriftHigh", "sla_rule": "position_drift"}),
    ), "h")
    rules = sorted(b.rule for b in evaluate(SECONDS, alerts=alerts).breaches)
    assert rules == ["order_latency", "position_drift", "risk_heartbeat"]


def test_a_label_naming_no_rule_is_unmatched_with_the_reason() -> None:
    alerts = read_alertmanager(hook(alert({"alertname": "DriftHigh", "sla_rule": "nope"})), "h")
    result = evaluate(SECONDS, alerts=alerts)
    assert result.breaches == ()
    assert result.unmatched_alerts == ('DriftHigh in h (sla_rule="nope" names no enabled rule)',)


def test_a_firing_alert_has_no_end_and_its_resolution_gives_it() -> None:
    firing = alert({"sla_rule": "order_latency"}, "0.2")
    resolved = {**firing, "status": "resolved", "endsAt": "2026-11-23T14:05:00Z"}
    (open_,) = evaluate(Policy(), alerts=read_alertmanager(hook(firing), "h")).breaches
    (closed,) = evaluate(Policy(), alerts=read_alertmanager(hook(resolved), "h")).breaches
    assert open_.window_end is None and closed.window_end is not None
    assert open_.breach_id == closed.breach_id
