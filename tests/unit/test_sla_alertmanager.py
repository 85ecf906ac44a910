"""Reading Alertmanager webhook payloads (version 4)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.sla import ExportError, read_alertmanager

DATA = Path(__file__).parent.parent / "data" / "sla"


def webhook(*alerts: dict[str, Any], version: Any = "4") -> bytes:
    return json.dumps({"version": version, "status": "firing", "alerts": list(alerts)}).encode()


def alert(**fields: Any) -> dict[str, Any]:
    base = {
        "status": "firing",
        "labels": {"alertname": "OrderLatencyHigh"},
        "annotations": {},
        "startsAt": "2024-05-01T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return {**base, **fields}


def test_a_webhook_log_of_json_lines_yields_every_alert() -> None:
    alerts = read_alertmanager((DATA / "alertmanager_webhooks.jsonl").read_bytes(), "hooks.jsonl")
    assert [(a.alertname, a.status) for a in alerts] == [
        ("RiskHeartbeatMissing", "firing"),
        ("RiskHeartbeatMissing", "resolved"),
        ("DiskAlmostFull", "firing"),
    ]
    firing, resolved, _ = alerts
    # Nanosecond RFC 3339 times keep microseconds; Go's zero time means "no end known".
    assert firing.starts_at == datetime(2024, 5, 1, 12, 5, 0, 123456, tzinfo=UTC)
    assert firing.ends_at is None
    assert resolved.ends_at == datetime(2024, 5, 1, 12, 7, 30, tzinfo=UTC)
    assert ("sla_rule", "risk_heartbeat") in firing.labels
    assert firing.fingerprint == "a1b2c3d4e5f60718"


def test_one_payload_plain_or_gzip() -> None:
    data = webhook(alert(startsAt="2024-05-01T14:00:00+02:00"))
    (plain,) = read_alertmanager(data, "hook.json")
    (packed,) = read_alertmanager(gzip.compress(data), "hook.json.gz")
    assert plain == dataclasses.replace(packed, source="hook.json")
    assert plain.starts_at == datetime(2024, 5, 1, 12, tzinfo=UTC)  # normalised to UTC


def test_an_empty_source_has_no_alerts() -> None:
    assert read_alertmanager(b"  \n", "empty.jsonl") == []
    assert read_alertmanager(webhook(), "none.json") == []


@pytest.mark.parametrize(
    ("data", "position", "reason"),
    [
        (webhook(version="3"), "payload[0].version", "expected webhook version \"4\", got '3'"),
        (webhook(version=4), "payload[0].version", "got 4"),
        (b"[]", "payload[0]", "expected an Alertmanager webhook object"),
        (b'{"version": "4"}', "payload[0].alerts", "expected a list of alerts"),
        (webhook(alert(), "x"), "payload[0].alerts[1]", "expected an alert object"),
        (
            webhook(alert(status="pending")),
            "payload[0].alerts[0].status",
            'expected "firing" or "resolved"',
        ),
        (
            webhook(alert(labels={"a": 1})),
            "payload[0].alerts[0].labels",
            "expected an object of strings",
        ),
        (
            webhook(alert(annotations=[])),
            "payload[0].alerts[0].annotations",
            "expected an object of strings",
        ),
        (
            webhook(alert(startsAt="yesterday")),
            "payload[0].alerts[0].startsAt",
            "'yesterday' is not an RFC 3339 time",
        ),
        (
            webhook(alert(startsAt="2024-05-01T12:00:00")),
            "payload[0].alerts[0].startsAt",
            "has no time zone",
        ),
        (
            webhook(alert(startsAt=17)),
            "payload[0].alerts[0].startsAt",
            "expected an RFC 3339 time, got 17",
        ),
        (
            webhook(alert(startsAt="0001-01-01T00:00:00Z")),
            "payload[0].alerts[0].startsAt",
            "is the zero time",
        ),
        (
            webhook(alert(endsAt="2024-05-01T11:00:00Z")),
            "payload[0].alerts[0].endsAt",
            "ends before it starts",
        ),
        (
            webhook(alert(endsAt="9999-12-31T23:00:00-05:00")),
            "payload[0].alerts[0].endsAt",
            "is out of range",
        ),
        (webhook(alert(fingerprint=12)), "payload[0].alerts[0].fingerprint", "expected a string"),
        (
            webhook(alert()) + b"\n" + webhook(alert(status="x")),
            "payload[1].alerts[0].status",
            "expected",
        ),
        (webhook(alert()) + b"\n{", f"byte {len(webhook(alert())) + 2}", "JSON syntax"),
    ],
)
def test_bad_payloads_raise_a_typed_error_with_position(
    data: bytes, position: str, reason: str
) -> None:
    with pytest.raises(ExportError) as caught:
        read_alertmanager(data, "hooks.jsonl")
    assert (caught.value.source, caught.value.position) == ("hooks.jsonl", position)
    assert reason in caught.value.reason
