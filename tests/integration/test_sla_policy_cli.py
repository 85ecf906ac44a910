"""A newcomer starts the desk's SLA policy from the runbook's, reads what each key
means, and feeds what `policy show --json` prints back to `policy check`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from clirunner import invoke
from opsledger.domain.sla import HeartbeatRule, ThresholdRule


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops"}


def shown(env: dict[str, str], *argv: str) -> dict:
    r = invoke(["sla", "policy", "show", *argv, "--json"], env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_policy_init_writes_the_runbook_defaults_with_every_key_commented(env, tmp_path):
    r = invoke(["sla", "policy", "init"], env)
    assert r.code == 0 and r.err == ""
    starter = tmp_path / "sla-policy.toml"
    starter.write_text(r.out)  # opsledger sla policy init > sla-policy.toml
    assert invoke(["sla", "policy", "check", str(starter)], env).code == 0
    mine = shown(env, "--policy", str(starter))
    assert mine["rules"] == shown(env)["rules"]  # the runbook's packet, exactly

    rules = tomllib.loads(r.out)["rules"]
    for rule_id, keys in rules.items():
        cls = HeartbeatRule if keys["kind"] == "heartbeat" else ThresholdRule
        # every field but the id (the table's name) is written, or shown commented out
        for field in set(cls.model_fields) - {"id"}:
            assert field in keys or f"# {field} = " in r.out, (rule_id, field)
    for line in r.out.splitlines():
        if "=" in line and not line.startswith("#"):
            assert "  # " in line, f"key without its explanation: {line}"


def test_what_policy_show_prints_is_a_policy_that_check_accepts(env, tmp_path):
    assert invoke(["sla", "policy", "show", "--json"], env).code == 0
    printed = tmp_path / "shown.json"
    printed.write_text(invoke(["sla", "policy", "show", "--json"], env).out)
    r = invoke(["sla", "policy", "check", str(printed)], env)
    assert r.code == 0, r.err

    desk = tmp_path / "desk.toml"
    desk.write_text('desk = "rates"\n[rules.order_latency]\nscale = 1000\n'
                    'matchers = [\'desk="rates"\', \'env=~"prod|dr"\']\n'
                    '[rules.fills]\nkind = "heartbeat"\nmetric = "tradepulse_fills_total"\n'
                    'interval_seconds = 30\nbeat = "increase"\nseverity = "warning"\n'
                    'escalation = "SRE"\n')
    first = shown(env, "--policy", str(desk))
    again = tmp_path / "again.json"
    again.write_text(json.dumps(first))
    assert invoke(["sla", "policy", "check", str(again)], env).code == 0
    second = shown(env, "--policy", str(again))
    assert {**second, "source": None} == {**first, "source": None}
