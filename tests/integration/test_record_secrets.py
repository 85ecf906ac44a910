"""No secret into the permanent record, tried as an operator would: every
recorded string is scanned before it is signed; a secret refuses the command
(nothing recorded, the field and kind named, never the value), or with
--redact is recorded redacted beside a keyed commitment to the original."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
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


GUESSES = [f"{w}{y}" for w in ("Trading", "Trader", "Summer", "Winter", "Password", "Desk")
           for y in range(2020, 2032)] + ["hunter2"]  # 73 guesses, the right one among them


def archived_bytes(home: Path) -> dict[str, bytes]:
    import io
    import tarfile

    import zstandard

    [archive] = list((home / "archives").rglob("*.tar.zst"))
    raw = zstandard.ZstdDecompressor().decompressobj().decompress(archive.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_a_script_that_leaks_into_its_log_is_sealed_only_redacted_and_unguessable(desk, tmp_path):
    session = tmp_path / "session"
    # the script gets its secrets from its environment, as it should, and leaks them
    script = ("import os; print('connecting with db_password=' + os.environ['LEAK_PW']); "
              "print('cloning https://' + os.environ['LEAK_TOKEN'] + '@github.com/desk/s.git')")
    leaky = {**desk, "LEAK_PW": DB_PASSWORD, "LEAK_TOKEN": GHP}
    r = invoke(["run", "CHG-1", "validate", "--session-dir", str(session), "--actor", "dana.ops",
                "--", sys.executable, "-c", script], leaky)
    assert r.code == 0, r.err
    assert "validation.log holds 2 secret(s)" in r.err and "--redact" in r.err
    assert_no_secret(desk, r.err)
    original = (session / "validation.log").read_bytes()
    [finished] = events(desk, "CommandFinished")
    assert finished["log_digest"] == "hmac-sha256"  # no plain hash of the leaky log
    assert finished["log_sha256"] != hashlib.sha256(original).hexdigest()

    build = ["archive", "build", "CHG-1", "--session-dir", str(session), "--allow-incomplete",
             "--actor", "alice.rm"]
    r = invoke(build, desk)
    assert r.code == 1 and "validation.log" in r.err and "--redact" in r.err
    assert_no_secret(desk, r.err, r.out)
    r = invoke([*build, "--redact", "--json"], desk)
    assert r.code == 0, r.err
    document = json.loads(r.out)
    assert document["verified"] is True  # signatures replay: the signed args are the redacted ones
    [shown] = document["redacted"]
    assert shown["original_hmac"].startswith("hmac-sha256:") and "original_sha256" not in shown
    home = Path(desk["OPSLEDGER_HOME"])
    members = archived_bytes(home)
    everything = b"".join(members.values()) + stored(desk)
    for secret in SECRETS:
        assert secret.encode() not in everything, secret
    [(name, redacted)] = [(n, d) for n, d in members.items() if n.endswith("validation.log")]
    assert b"[REDACTED:high-entropy-assignment]" in redacted

    # The dictionary attack of the issue, over everything the archive holds:
    # rebuild each candidate original from the redacted copy and look for its
    # digest. It would find the right guess against a plain sha256 ...
    digests = set(re.findall(rb"[0-9a-f]{64}", everything))

    def candidate(guess: str) -> bytes:
        return (redacted.replace(b"[REDACTED:high-entropy-assignment]", guess.encode())
                .replace(b"[REDACTED:github-pat]", GHP.encode()))

    assert hashlib.sha256(candidate("Trading2026")).digest() == hashlib.sha256(original).digest()
    # ... but none is there: the original is committed to with the desk's key only.
    assert not [g for g in GUESSES if hashlib.sha256(candidate(g)).hexdigest().encode() in digests]
    key = bytes.fromhex((home / "keys" / "redaction.key").read_text().strip())
    [redaction] = events(desk, "PayloadRedacted")
    assert "original_sha256" not in redaction
    assert redaction["original_hmac"] == (
        "hmac-sha256:" + hmac.new(key, original, hashlib.sha256).hexdigest())
    assert not any(n.startswith("keys/") or n.endswith("redaction.key") for n in members)
