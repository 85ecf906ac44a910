"""`sla breach`: an on-call engineer records by hand what they saw; the ledger refuses
what cannot be a breach, so a typo never becomes a permanent record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import invoke, staff

ARTIFACT = "sha256:" + "ab" * 32
BREACH = ["sla", "breach", "CHG-5", "--metric", "metrics.execution.latency", "--unit", "ms",
          "--escalation", "Execution Trader", "--severity", "critical"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops"}
    staff(env)
    assert invoke(["ticket", "open", "CHG-5", "--strategy", "momo-1", "--artifact", ARTIFACT],
                  env).code == 0
    return env


def breaches(env: dict[str, str]) -> int:
    return json.loads(invoke(["ticket", "show", "CHG-5", "--json"], env).out)["breach_count"]


def test_a_latency_spike_seen_on_the_dashboard_is_recorded_once(env):
    argv = [*BREACH, "--observed", "163", "--threshold", "120", "--comparison", "p95 < 120 ms",
            "--start", "2026-11-23T14:05:00Z"]
    assert invoke(argv, env).code == 0
    again = invoke(argv, env)
    assert again.code == 0 and "was already recorded" in again.out
    assert breaches(env) == 1


@pytest.mark.parametrize("observed", ["nan", "NaN", "inf", "-inf"])
def test_not_a_number_is_refused_as_the_observed_value(env, observed):
    r = invoke([*BREACH, "--observed", observed, "--threshold", "120",
                "--start", "2026-11-23T14:05:00Z"], env)
    assert r.code == 2 and len(r.error_lines) == 1
    assert "--observed must be a finite number" in r.err
    assert breaches(env) == 0


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                                   "9999-01-01T00:00:00Z"])
def test_a_start_no_session_could_have_is_refused(env, start):
    r = invoke([*BREACH, "--observed", "163", "--threshold", "120", "--start", start], env)
    assert r.code == 2 and len(r.error_lines) == 1
    assert "--start" in r.err and "is not a time of a session" in r.err
    assert breaches(env) == 0


def test_an_observed_value_inside_the_threshold_is_not_a_breach(env):
    r = invoke([*BREACH, "--observed", "95", "--threshold", "120", "--comparison",
                "p95 < 120 ms", "--start", "2026-11-23T14:05:00Z"], env)
    assert r.code == 2 and len(r.error_lines) == 1
    assert "--observed 95 complies with --threshold 120" in r.err and "not a breach" in r.err
    at_the_limit = invoke([*BREACH, "--observed", "120", "--threshold", "120",
                           "--start", "2026-11-23T14:05:00Z"], env)
    assert at_the_limit.code == 2  # a value at the threshold complies (the policy's rule)
    assert breaches(env) == 0


def test_a_lower_bound_is_breached_from_below(env):
    base = ["sla", "breach", "CHG-5", "--metric", "fill_ratio", "--unit", "%",
            "--escalation", "Execution Trader", "--comparison", "fills > 95 %",
            "--threshold", "95", "--start", "2026-11-23T14:05:00Z"]
    assert invoke([*base, "--observed", "97"], env).code == 2
    assert invoke([*base, "--observed", "91"], env).code == 0
    assert breaches(env) == 1


def test_a_breach_recorded_open_gets_its_end_later(env):
    start = [*BREACH, "--observed", "163", "--threshold", "120", "--start", "2026-11-23T14:05:00Z"]
    assert invoke(start, env).code == 0
    ended = invoke([*start, "--end", "2026-11-23T14:09:00Z"], env)
    assert ended.code == 0 and "recorded" in ended.out
    (incident,) = json.loads(invoke(["incidents", "--ticket", "CHG-5", "--json"], env).out)
    assert incident["duration_s"] == 240.0
