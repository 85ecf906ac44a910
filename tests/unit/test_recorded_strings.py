"""The screen every recording call passes (services.recorded): each string,
key and `--flag value` pair of the arguments, judged before it is signed."""

from __future__ import annotations

import statistics
import time

import pytest
from opsledger.services.recorded import SecretInRecord, commitment, screen_arguments

GHP = "ghp_Zq8vN3kP1xWt5Rb9Lm2Yc7Hd4Gf6Js0Ta3Ue"
KEY = b"k" * 32


def commit(data: bytes) -> str:
    return commitment(KEY, data)


def screen(args, redact=False):
    return screen_arguments("act", args, redact=redact, commit=commit)


def test_clean_arguments_pass_unchanged():
    args = {"key": "CHG-2041", "artifact_digest": "sha256:" + "ab" * 32, "sha256": "cd" * 32,
            "argv": ["tradepulse-cli", "deploy", "--env", "prod", "--strategy", "momo-1",
                     "--artifact", "sha256:" + "ab" * 32, "--window", "15m"],
            "run_id": "0f5c2a9e-6c1b-4c8e-9a51-2b7f3c1d9e00", "size": 10, "role": None,
            "reason": "drift 2% over limit", "path": "reports/prod_cutover.md"}
    assert screen(args) == (args, {})


def test_a_flag_s_value_is_judged_by_the_flag_before_it():
    with pytest.raises(SecretInRecord) as info:
        screen({"argv": ["cli", "--password", "hunter2", "--db-password", "Trading2026"]})
    assert [(h.field, h.kind) for h in info.value.hits] == [
        ("argv[2]", "high-entropy-assignment"), ("argv[4]", "high-entropy-assignment")]
    assert "hunter2" not in str(info.value) and "Trad" not in str(info.value)


def test_alert_labels_annotations_and_their_keys_are_screened():
    breaches = [{"labels": {"alertname": "Latency", f"x-{GHP}": "1"},
                 "annotations": {"summary": f"token {GHP} rejected"}}]
    with pytest.raises(SecretInRecord) as info:
        screen({"breaches": breaches})
    fields = sorted(h.field for h in info.value.hits)
    assert fields == ["breaches[0].annotations.summary", "breaches[0].labels.<key>"]
    assert GHP[4:] not in str(info.value)
    screened, commitments = screen({"breaches": breaches}, redact=True)
    labels = screened["breaches"][0]["labels"]
    assert set(labels) == {"alertname", "x-[REDACTED:github-pat]"}
    assert screened["breaches"][0]["annotations"]["summary"] == "token [REDACTED:github-pat] rejected"
    assert sorted(commitments) == ["breaches[0].annotations.summary",
                                   "breaches[0].labels.<key x-[REDACTED:github-pat]>"]
    assert all(GHP not in k for k in commitments)


def test_a_commitment_is_keyed_and_names_the_original():
    screened, commitments = screen({"reason": f"use {GHP}"}, redact=True)
    assert screened == {"reason": "use [REDACTED:github-pat]"}
    assert commitments == {"reason": commitment(KEY, f"use {GHP}".encode())}
    assert commitment(b"another desk" * 3, f"use {GHP}".encode()) != commitments["reason"]


def test_screening_a_command_s_arguments_takes_well_under_5_ms():
    args = {"key": "CHG-2041", "command": "deploy",
            "argv": ["tradepulse-cli", "deploy", "--env", "prod", "--strategy", "momo-1",
                     "--artifact", "sha256:" + "ab" * 32, "--window", "15m", "--mode", "dry-run",
                     "--db", "postgresql://trader@db.internal:5432/risk"],
            "log_path": "reports/live/2026-11-23/deploy.log", "reason": "drift 2% over limit",
            "breaches": [{"labels": {"alertname": "Latency", "severity": "critical"},
                          "annotations": {"summary": "p95 163 ms over 120 ms"}}] * 4}
    screen(args)  # the engine is compiled once per process, before the first command
    times = []
    for _ in range(50):
        start = time.perf_counter()
        screen(args)
        times.append(time.perf_counter() - start)
    median = statistics.median(times) * 1000
    print(f"screening one command's arguments: median {median:.3f} ms")
    assert median < 5.0
