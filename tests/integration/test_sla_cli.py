"""`opsledger sla`: breaches found in exports and alerts, recorded exactly once."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirunner import invoke, staff
from opsledger.services.demo_tradepulse import prometheus_export

ARTIFACT = "sha256:" + "ab" * 32
START = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
WINDOW = ["--since", "2026-11-23T13:30:00Z", "--until", "2026-11-23T17:30:00Z"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops"}
    staff(env)  # dana.ops's key signs, and her role lets her open and record breaches
    assert invoke(["ticket", "open", "CHG-5", "--strategy", "momo-1", "--artifact", ARTIFACT],
                  env).code == 0
    return env


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "metrics_20261123T133000Z.json.gz"
    path.write_bytes(gzip.compress(json.dumps(prometheus_export("momo-1", START, 4 * 3600))
                                   .encode()))
    return path


def test_each_kind_of_breach_is_found_and_recorded_once(env, export):
    first = invoke(["sla", "evaluate", "CHG-5", str(export), *WINDOW, "--json",
                    "--incident", "INC-9"], env)
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    assert sorted(b["rule"] for b in doc["breaches"]) == [
        "heartbeat_execution", "order_latency", "position_drift", "risk_heartbeat"]
    assert doc["new"] == 4
    again = json.loads(invoke(["sla", "evaluate", "CHG-5", str(export), *WINDOW, "--json"],
                              env).out)
    assert again["new"] == 0 and again["already_recorded"] == 4


def test_dry_run_records_nothing(env, export):
    dry = json.loads(invoke(["sla", "evaluate", "CHG-5", str(export), *WINDOW, "--dry-run",
                             "--json"], env).out)
    assert len(dry["breaches"]) == 4 and dry["new"] == 0
    real = json.loads(invoke(["sla", "evaluate", "CHG-5", str(export), *WINDOW, "--json"],
                             env).out)
    assert real["new"] == 4


def test_a_bad_export_names_the_file_and_records_nothing(env, export, tmp_path):
    truncated = tmp_path / "metrics_bad.json.gz"
    truncated.write_bytes(export.read_bytes()[:500])
    r = invoke(["sla", "evaluate", "CHG-5", str(export), str(truncated), *WINDOW], env)
    assert r.code == 2 and "metrics_bad.json.gz" in r.err and len(r.error_lines) == 1
    dry = json.loads(invoke(["sla", "evaluate", "CHG-5", str(export), *WINDOW, "--json"],
                            env).out)
    assert dry["new"] == 4  # the failed run recorded nothing, not even the good file's


def test_firing_alerts_become_breaches(env, tmp_path):
    payload = {
        "version": "4", "status": "firing", "receiver": "sre", "groupKey": "g",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "OrderLatencyHigh", "sla_rule": "order_latency",
                       "strategy": "momo-1"},
            "annotations": {"value": "171"},
            "startsAt": "2026-11-23T14:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abc123"}],
    }
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(payload))
    r = invoke(["sla", "alerts", "CHG-5", str(path), "--json"], env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [b["rule"] for b in doc["breaches"]] == ["order_latency"] and doc["new"] == 1


def test_policy_show_and_check(env, tmp_path):
    shown = json.loads(invoke(["sla", "policy", "show", "--json"], env).out)
    latency = next(r for r in shown["rules"] if r["id"] == "order_latency")
    assert latency["threshold"] == 120.0 and "Execution Trader" in latency["escalation"]
    bad = tmp_path / "policy.toml"
    bad.write_text('desk = "a"\n[[rules]]\nid = 3\n')
    r = invoke(["sla", "policy", "check", str(bad)], env)
    assert r.code == 2 and len(r.error_lines) == 1
    assert invoke(["sla", "policy", "check", str(tmp_path / "missing.toml")], env).code == 2
