"""No secret into the permanent record, tried as an operator would: every
recorded string is scanned before it is signed; a secret refuses the command
(nothing recorded, the field and kind named, never the value), or with
--redact is recorded redacted beside a keyed commitment to the original."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from clirunner import invoke, staff

DIGEST = "sha256:" + "ab" * 32
GHP = "ghp_Zq8vN3kP1xWt5Rb9Lm2Yc7Hd4Gf6Js0Ta3Ue"
AWS = "AKIAIOSFODNN7EXAMPLE"
DB_PASSWORD = "Trading2026"
SECRETS = [GHP, AWS, DB_PASSWORD, "hunter2", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]


@pytest.fixture
def desk(tmp_path: Path) -> dict[str, str]:
    env = {"OPSLEDGER_HOME": str(tmp_path / "home")}
    staff(env)
    r = invoke(["ticket", "open", "CHG-1", "--strategy", "momo-1", "--env", "prod",
                "--artifact", DIGEST, "--actor", "dave.dev"], env)
    assert r.code == 0, r.err
    return env


def stored(env) -> bytes:
    """Every byte of the event store (and its write-ahead log)."""
    home = Path(env["OPSLEDGER_HOME"])
    return b"".join(p.read_bytes() for p in home.glob("events.sqlite*"))


def events(env, topic_part: str) -> list[dict]:
    db = sqlite3.connect(Path(env["OPSLEDGER_HOME"]) / "events.sqlite")
    try:
        rows = db.execute("SELECT topic, state FROM stored_events").fetchall()
    finally:
        db.close()
    return [json.loads(state) for topic, state in rows if topic_part in topic]


def intent_of(event: dict) -> dict:
    return json.loads(base64.b64decode(event["signature"]["signed"]))


def assert_no_secret(env, *texts: str) -> None:
    data = stored(env)
    for secret in SECRETS:
        assert secret.encode() not in data, secret
        for text in texts:  # no run of its characters either: not even a prefix
            assert secret[:4] not in text or secret[:4] in ("hunt",), (secret, text)


def test_a_secret_in_a_reason_refuses_the_command_and_records_nothing(desk):
    before = len(events(desk, "flag.Changed"))
    r = invoke(["flag", "set", "live.enabled", "true", "--ticket", "CHG-1", "--actor", "dana.ops",
                "--reason", f"key {AWS} pw {DB_PASSWORD}"], desk)
    assert r.code == 1
    assert "reason: aws-access-key" in r.err and "reason: high-entropy-assignment" in r.err
    assert "nothing recorded" in r.err and "--redact" in r.err
    assert AWS[:4] not in r.err and DB_PASSWORD[:4] not in r.err
    assert len(events(desk, "flag.Changed")) == before
    assert_no_secret(desk, r.err, r.out)


def test_with_redact_the_reason_is_recorded_redacted_with_a_keyed_commitment(desk):
    reason = f"key {AWS} pw {DB_PASSWORD}"
    r = invoke(["flag", "set", "live.enabled", "true", "--ticket", "CHG-1", "--actor", "dana.ops",
                "--redact", "--reason", reason], desk)
    assert r.code == 0, r.err
    assert_no_secret(desk, r.err, r.out)
    [changed] = [e for e in events(desk, "flag.Changed") if e.get("reason", "").startswith("key")]
    assert changed["reason"] == "key [REDACTED:aws-access-key] pw [REDACTED:high-entropy-assignment]"
    intent = intent_of(changed)
    assert intent["args"]["reason"] == changed["reason"]  # what was signed is what is stored
    key_file = Path(desk["OPSLEDGER_HOME"]) / "keys" / "redaction.key"
    assert key_file.stat().st_mode & 0o077 == 0
    key = bytes.fromhex(key_file.read_text().strip())
    # whoever holds the desk's key proves which original was redacted ...
    expected = "hmac-sha256:" + hmac.new(key, reason.encode(), hashlib.sha256).hexdigest()
    assert intent["redactions"] == {"reason": expected}
    # ... and from the record alone, a dictionary has nothing to test against
    assert hashlib.sha256(reason.encode()).hexdigest() not in json.dumps(changed)


def test_a_script_s_argv_is_refused_or_recorded_redacted_but_the_script_gets_it(desk, tmp_path):
    argv = [sys.executable, "-c",
            "import hashlib,sys; print(hashlib.sha256(' '.join(sys.argv[1:]).encode()).hexdigest())",
            "--token", GHP, "--db", f"postgresql://trader:{DB_PASSWORD}@db/risk",
            "--password", "hunter2",
            "--aws-secret-access-key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]
    session = tmp_path / "session"
    run = ["run", "CHG-1", "validate", "--session-dir", str(session), "--actor", "dana.ops"]
    r = invoke([*run, "--", *argv], desk)
    assert r.code == 1
    for field in ("argv[4]: github-pat", "argv[6]: url-password",
                  "argv[8]: high-entropy-assignment", "argv[10]: high-entropy-assignment"):
        assert field in r.err
    assert not list(session.glob("*.log"))  # nothing ran: refused before the start
    assert events(desk, "CommandStarted") == []
    assert_no_secret(desk, r.err, r.out)

    r = invoke([*run, "--redact", "--", *argv], desk)
    assert r.code == 0, r.err
    log = (session / "validation.log").read_text()
    assert hashlib.sha256(" ".join(argv[3:]).encode()).hexdigest() in log  # the real values
    [started] = events(desk, "CommandStarted")
    assert started["argv"][3:] == [
        "--token", "[REDACTED:github-pat]", "--db", "postgresql://trader:[REDACTED:url-password]@db/risk",
        "--password", "[REDACTED:high-entropy-assignment]",
        "--aws-secret-access-key", "[REDACTED:high-entropy-assignment]"]
    assert sorted(intent_of(started)["redactions"]) == ["argv[10]", "argv[4]", "argv[6]", "argv[8]"]
    assert_no_secret(desk, r.err, r.out)


def test_breach_details_and_roster_reasons_are_scanned_too(desk):
    r = invoke(["sla", "breach", "CHG-1", "--metric", "metrics.execution.latency", "--observed",
                "163", "--threshold", "120", "--unit", "ms", "--start", "2026-11-23T14:05:00Z",
                "--severity", "critical", "--escalation", "Execution Trader", "--actor", "dana.ops",
                "--detail", f"gateway rejected token {GHP}"], desk)
    assert r.code == 1 and "detail: github-pat" in r.err and GHP[4:] not in r.err
    r = invoke(["roster", "grant", "eve.trader", "operator", "--actor", "root.admin",
                "--reason", f"temporary, use aws_secret_access_key {SECRETS[-1]}"], desk)
    assert r.code == 1 and "reason: high-entropy-assignment" in r.err
    assert_no_secret(desk, r.err, r.out)
