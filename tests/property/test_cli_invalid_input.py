"""Random invalid input never produces a traceback: one line, exit 2."""

from __future__ import annotations

import re
import string

import pytest
from clirunner import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.ticket import TICKET_KEY

ARTIFACT = "sha256:" + "ab" * 32

junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=0, max_size=40)
bad_key = junk.filter(lambda s: not TICKET_KEY.match(s) and not s.startswith("-"))
bad_role = junk.filter(lambda s: s not in {
    "release-manager", "risk-officer", "compliance-officer", "dev-lead", "sre-captain",
    "incident-commander", "execution-trader", "operator"} and not s.startswith("-"))
bad_time = junk.filter(lambda s: not re.match(r"^\d{4}-\d{2}-\d{2}", s) and not s.startswith("-"))
word = st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=12)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    env = {"OPSLEDGER_HOME": str(home / "home"), "OPSLEDGER_ACTOR": "fuzzer"}
    evidence = home / "e.md"
    evidence.write_text("x")
    assert invoke(["ticket", "open", "CHG-1", "--strategy", "s", "--artifact", ARTIFACT],
                  env).code == 0
    env["_EVIDENCE"] = str(evidence)
    return env


def invalid_invocations(env):
    evidence = env["_EVIDENCE"]
    return st.one_of(
        bad_key.map(lambda k: ["ticket", "open", k, "--strategy", "s", "--artifact", ARTIFACT]),
        junk.filter(lambda s: not s.startswith("-")).map(
            lambda d: ["ticket", "open", "CHG-2", "--strategy", "s", "--artifact", d + "x"]),
        bad_key.map(lambda k: ["gate", k]),
        bad_key.map(lambda k: ["ticket", "close", k]),
        bad_role.map(lambda r: ["evidence", "attach", "CHG-1", "health-gate", evidence,
                                "--role", r]),
        word.filter(lambda w: w not in {"approvals", "release-readiness", "prod-cutover",
                                        "health-gate", "risk-envelope", "oncall-rotation",
                                        "incident-playbooks"}).map(
            lambda c: ["evidence", "attach", "CHG-1", c, evidence, "--role", "dev-lead"]),
        junk.map(lambda p: ["evidence", "attach", "CHG-1", "health-gate",
                            f"/nonexistent/{p}", "--role", "dev-lead"]),
        bad_time.map(lambda t: ["sla", "breach", "CHG-1", "--metric", "m", "--observed", "1",
                                "--start", t, "--escalation", "e"]),
        junk.filter(lambda s: not s.startswith("-")).filter(
            lambda s: not re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*|"
                                       r"\s*[-+]?(inf|infinity|nan)\s*", s, re.I)).map(
            lambda v: ["sla", "breach", "CHG-1", "--metric", "m", "--observed", v,
                       "--start", "2026-11-23T14:00:00Z", "--escalation", "e"]),
        junk.filter(lambda s: not s.startswith("-")).filter(
            lambda s: s.strip().lower() not in {"true", "false", "on", "off", "1", "0", "yes",
                                                "no", "enabled", "disabled"}).map(
            lambda v: ["flag", "set", "live.enabled", v, "--reason", "r"]),
        bad_time.map(lambda t: ["shift", "show", "--date", t]),
        word.filter(lambda w: w not in {"ticket", "evidence", "approve", "gate", "flag",
                                        "shift", "sla", "run", "demo", "projections",
                                        "timeline", "incidents", "archive", "ledger", "keys",
                                        "db", "roster"}).map(lambda w: [w]),
        word.map(lambda w: ["ticket", "open", "CHG-3", f"--{w}x", "1"]),
        st.just(["run", "CHG-1", "deploy"]),
    )


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_invalid_input_gets_one_line_and_exit_2(env, data):
    argv = data.draw(invalid_invocations(env))
    result = invoke(argv, {k: v for k, v in env.items() if not k.startswith("_")})
    assert "Traceback" not in result.err
    assert result.code == 2, (argv, result.code, result.err)
    assert len(result.error_lines) == 1, result.err
    assert result.error_lines[0].startswith("opsledger: error: ")
