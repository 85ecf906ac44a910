"""An alert's life on the record: Alertmanager says "firing", later "resolved", and
resends both; the ticket ends up with one breach and its true window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import invoke, staff
from conftest import PG_URL

ARTIFACT = "sha256:" + "ab" * 32
STARTS = "2026-11-23T14:00:00Z"
ENDS = "2026-11-23T14:02:30Z"


def notification(status: str, *, value: str = "0.171", **labels: str) -> dict:
    alert_labels = {"alertname": "OrderLatencyHigh", "sla_rule": "order_latency",
                    "strategy": "momo-1", **labels}
    return {
        "version": "4", "status": status, "receiver": "sre",
        "groupKey": '{}:{alertname="OrderLatencyHigh"}',
        "alerts": [{
            "status": status, "labels": alert_labels,
            "annotations": {"value": value, "summary": "p95 order latency above 120 ms"},
            "startsAt": STARTS,
            "endsAt": ENDS if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": "5e1d2c3b4a596877"}],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops"}
    if request.param == "postgres":  # the views' tables of ends, on both stores
        env["OPSLEDGER_DATABASE_URL"] = f"{PG_URL}?schema={request.getfixturevalue('pg_schema')}"
    staff(env)
    assert invoke(["ticket", "open", "CHG-5", "--strategy", "momo-1", "--artifact", ARTIFACT],
                  env).code == 0
    return env


@pytest.fixture
def hooks(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    # the latency rule scales seconds to milliseconds: a p95 of 0.171 s is 171 ms
    policy = tmp_path / "sla-policy.toml"
    policy.write_text("[rules.order_latency]\nscale = 1000\n")
    paths["policy"] = policy
    for status in ("firing", "resolved"):
        path = tmp_path / f"{status}.json"
        path.write_text(json.dumps(notification(status)))
        paths[status] = path
    return paths


def alerts(env: dict[str, str], path: Path, policy: Path) -> dict:
    result = invoke(["sla", "alerts", "CHG-5", str(path), "--policy", str(policy), "--json"], env)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_the_resolved_notification_ends_the_breach_its_firing_one_opened(env, hooks, tmp_path):
    firing = alerts(env, hooks["firing"], hooks["policy"])
    assert (firing["new"], firing["ended"]) == (1, 0)
    (breach,) = firing["breaches"]
    assert breach["window_end"] is None and breach["record"] == "new"
    assert (breach["observed"], breach["unit"]) == (171.0, "ms")  # scaled, not 0.171 ms

    # Alertmanager resends the firing notification: nothing new
    again = alerts(env, hooks["firing"], hooks["policy"])
    assert (again["new"], again["ended"], again["already_recorded"]) == (0, 0, 1)

    resolved = alerts(env, hooks["resolved"], hooks["policy"])
    assert (resolved["new"], resolved["ended"]) == (0, 1)
    assert resolved["breaches"][0]["breach_id"] == breach["breach_id"]
    assert resolved["breaches"][0]["record"] == "ended"

    # ... and resends the resolved one too: still one breach, one end
    late = alerts(env, hooks["resolved"], hooks["policy"])
    assert (late["new"], late["ended"], late["already_recorded"]) == (0, 0, 1)

    kinds = [e["kind"] for e in json.loads(invoke(["timeline", "CHG-5", "--json"], env).out)["events"]]
    assert kinds.count("SlaBreachRecorded") == 1 and kinds.count("SlaBreachResolved") == 1

    (incident,) = json.loads(invoke(["incidents", "--ticket", "CHG-5", "--json"], env).out)
    assert incident["window_start"].startswith("2026-11-23T14:00:00")
    assert incident["window_end"].startswith("2026-11-23T14:02:30")
    assert incident["duration_s"] == 150.0 and incident["time_to_resolve_s"] == 150.0
    assert incident["end_recorded_at"] is not None

    report = tmp_path / "sla_incidents.md"
    assert invoke(["incidents", "export", "--ticket", "CHG-5", "--output", str(report)],
                  env).code == 0
    text = report.read_text()
    assert "Time to resolve: 2 min 30 s" in text
    assert "to 2026-11-23T14:02:30" in text and "Observed: 171 ms" in text


def test_both_notifications_in_one_batch_record_the_breach_with_its_end(env, hooks, tmp_path):
    both = tmp_path / "hooks.jsonl"
    both.write_text(hooks["firing"].read_text() + "\n" + hooks["resolved"].read_text() + "\n")
    doc = alerts(env, both, hooks["policy"])
    assert (doc["new"], doc["ended"]) == (1, 0)
    assert doc["breaches"][0]["window_end"].startswith("2026-11-23T14:02:30")
    kinds = [e["kind"] for e in json.loads(invoke(["timeline", "CHG-5", "--json"], env).out)["events"]]
    assert kinds.count("SlaBreachResolved") == 0  # the end came with the breach


def test_the_human_output_shows_an_open_breach_as_ongoing_then_its_end(env, hooks):
    r = invoke(["sla", "alerts", "CHG-5", str(hooks["firing"]), "--policy",
                str(hooks["policy"])], env)
    assert r.code == 0 and "ongoing" in r.out and "recorded 1 new" in r.out
    r = invoke(["sla", "alerts", "CHG-5", str(hooks["resolved"]), "--policy",
                str(hooks["policy"])], env)
    assert r.code == 0 and "ended" in r.out and "the end of 1 recorded before" in r.out


def test_a_guardrail_label_selects_the_rule(env, hooks, tmp_path):
    payload = notification("firing")
    del payload["alerts"][0]["labels"]["sla_rule"]
    payload["alerts"][0]["labels"]["guardrail"] = "order_latency"
    path = tmp_path / "guardrail.json"
    path.write_text(json.dumps(payload))
    doc = alerts(env, path, hooks["policy"])
    assert [b["rule"] for b in doc["breaches"]] == ["order_latency"]
