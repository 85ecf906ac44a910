"""A desk whose metric names are not the policy's hears about it, loudly, and no
false breach is recorded for a series that was simply not exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import invoke, staff

ARTIFACT = "sha256:" + "ab" * 32
T0 = 1795440600  # 2026-11-23T13:30:00Z
WINDOW = ["--since", "2026-11-23T13:30:00Z", "--until", "2026-11-23T17:30:00Z"]


def export(path: Path, *series: tuple[str, list[str]]) -> Path:
    result = [{"metric": {"__name__": name, "desk": "rates"},
               "values": [[T0 + 15 * i, v] for i, v in enumerate(values)]}
              for name, values in series]
    path.write_text(json.dumps({"status": "success",
                                "data": {"resultType": "matrix", "result": result}}))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops"}
    staff(env)
    assert invoke(["ticket", "open", "CHG-5", "--strategy", "momo-1", "--artifact", ARTIFACT],
                  env).code == 0
    return env


def breach_count(env: dict[str, str]) -> int:
    return json.loads(invoke(["ticket", "show", "CHG-5", "--json"], env).out)["breach_count"]


def test_an_export_named_the_desks_way_matches_nothing_and_says_so(env, tmp_path):
    path = export(tmp_path / "metrics.json",
                  ("tradepulse_order_latency_seconds", ["0.08", "0.3", "0.09"]),
                  ("tradepulse_risk_heartbeat_timestamp_seconds", ["1", "2", "3"]))
    r = invoke(["sla", "evaluate", "CHG-5", str(path), *WINDOW], env)
    assert r.code == 1
    assert r.out.strip() == "CHG-5: no series matched any SLA rule; nothing recorded"
    assert "2 series matched no SLA rule" in r.err
    assert 'tradepulse_order_latency_seconds{desk="rates"}' in r.err
    assert "--allow-unmatched" in r.err
    assert breach_count(env) == 0

    # --json says the same, with the same exit code
    doc = json.loads((j := invoke(["sla", "evaluate", "CHG-5", str(path), "--json"], env)).out)
    assert j.code == 1 and doc["nothing_matched"] and len(doc["unmatched_series"]) == 2

    accepted = invoke(["sla", "evaluate", "CHG-5", str(path), "--allow-unmatched"], env)
    assert accepted.code == 0 and "matched no SLA rule" in accepted.err


def test_a_latency_only_snapshot_records_no_heartbeat_silence(env, tmp_path):
    path = export(tmp_path / "latency.json",
                  ("metrics_execution_latency", ["80", "150", "90"]),
                  ("tradepulse_fills_total", ["1", "2", "3"]))
    r = invoke(["sla", "evaluate", "CHG-5", str(path), *WINDOW, "--json"], env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [b["rule"] for b in doc["breaches"]] == ["order_latency"]
    assert set(doc["rules_without_data"]) == {
        "heartbeat_ingestion", "heartbeat_feature_store", "heartbeat_execution",
        "position_drift", "risk_heartbeat"}
    assert "no data for rule risk_heartbeat" in r.err
    assert breach_count(env) == 1

    human = invoke(["sla", "evaluate", "CHG-5", str(path), *WINDOW], env)
    assert human.code == 0
    assert 'matched no SLA rule: tradepulse_fills_total{desk="rates"}' in human.err
    assert "no data for rule heartbeat_execution" in human.err


def test_a_webhook_that_matches_no_rule_exits_1_with_the_alert_names(env, tmp_path):
    path = tmp_path / "hook.json"
    path.write_text(json.dumps({"version": "4", "alerts": [{
        "status": "firing", "labels": {"alertname": "TradepulseLatencyHigh"},
        "startsAt": "2026-11-23T14:00:00Z"}]}))
    r = invoke(["sla", "alerts", "CHG-5", str(path)], env)
    assert r.code == 1
    assert "CHG-5: no alert matched any SLA rule; nothing recorded" in r.out
    assert "1 alert(s) matched no SLA rule: TradepulseLatencyHigh in" in r.err
    assert "no data for rule" not in r.err  # alerts are not series: no such noise
    assert invoke(["sla", "alerts", "CHG-5", str(path), "--allow-unmatched"], env).code == 0
