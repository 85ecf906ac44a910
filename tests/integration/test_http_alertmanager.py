"""`POST /api/v1/alertmanager` through the HTTP door: Alertmanager's service account
(no key, scope `alerts`) delivers, the server's own key signs; fire, resend, resolve
is one breach with its window; bodies over the cap are 413 unread; a sender without
a breach role, a read token, and a server without a key record nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from clirunner import key_file, public_key_file
from httpdesk import ADMIN, KEY, bearer, found_desk, issue, ol, services_of
from openapi_schema_validator import OAS31Validator
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.services.alert_intake import MAX_BODY
from opsledger.web.app import create_app
from starlette.testclient import TestClient

INTAKE = "opsledger.intake"  # the roster name whose key `opsledger serve` runs with
SENDER = "alertmanager"  # the service account Alertmanager's token belongs to
STARTS = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
URL = "/api/v1/alertmanager"


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def notification(status: str = "firing", ends: datetime | None = None, **labels: str) -> dict:
    alert = {"status": status,
             "labels": {"alertname": "OrderLatencyHigh", "sla_rule": "order_latency",
                        "change_ticket": KEY, "severity": "critical", **labels},
             "annotations": {"value": "171"}, "startsAt": z(STARTS),
             "endsAt": z(ends) if ends else "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus/graph", "fingerprint": "5e1d2c3b4a596877"}
    return {"version": "4", "status": status, "receiver": "opsledger",
            "groupKey": '{}:{alertname="OrderLatencyHigh"}', "truncatedAlerts": 0,
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": [alert]}


@pytest.fixture
def desk(cli_env):
    found_desk(cli_env)
    for argv in (["roster", "key", "add", INTAKE, str(public_key_file(INTAKE)),
                  "--reason", "opsledger serve's own key"],
                 ["roster", "grant", INTAKE, "alert-receiver", "--reason", "records alerts"],
                 ["roster", "grant", SENDER, "alert-receiver", "--reason", "sends alerts"]):
        assert ol(cli_env, ADMIN, *argv).code == 0
    return cli_env


def served(env, *, signer: str | None = INTAKE, **kwargs) -> TestClient:
    services = services_of(env)
    if signer:
        services.act_as(FileKeySigner(key_file(signer)))
    return TestClient(create_app(services), **kwargs)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def breaches(env) -> list[dict]:
    r = ol(env, ADMIN, "incidents", "--ticket", KEY, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def schema_of(spec: dict, status: str, media: str) -> OAS31Validator:
    answer = spec["paths"][URL]["post"]["responses"][status]["content"][media]["schema"]
    return OAS31Validator({**answer, "components": spec["components"]})


def test_fire_resend_resolve_through_the_door_is_one_breach_signed_by_the_server(desk):
    token = issue(desk, SENDER, "alerts", service=True)
    reader = issue(desk, "bob.risk", "read")
    with served(desk) as http:
        spec = http.get("/api/v1/openapi.json", headers=bearer(reader)).json()
        assert "requestBody" in spec["paths"][URL]["post"]
        fired = http.post(URL, json=notification(), headers=bearer(token))
        assert fired.status_code == 200, fired.text
        schema_of(spec, "200", "application/json").validate(fired.json())
        assert (fired.json()["new"], fired.json()["sender"]) == (1, SENDER)

        resent = http.post(URL, json=notification(), headers=bearer(token)).json()
        assert (resent["new"], resent["already_recorded"]) == (0, 1)
        ends = STARTS + timedelta(minutes=7)
        resolved = http.post(URL, json=notification("resolved", ends), headers=bearer(token))
        assert resolved.json()["ended"] == 1
        again = http.post(URL, json=notification("resolved", ends), headers=bearer(token))
        assert (again.json()["ended"], again.json()["already_recorded"]) == (0, 1)

        metrics = http.get("/metrics", headers=bearer(reader)).text
        assert "opsledger_alerts_received_total 4.0" in metrics
        for outcome, n in (("new", 1), ("ended", 1), ("seen", 2)):
            assert f'opsledger_alerts_recorded_total{{outcome="{outcome}"}} {n}.0' in metrics
        assert 'opsledger_http_events_recorded_total{route="/api/v1/alertmanager"} 2.0' in metrics

    (breach,) = breaches(desk)
    assert (at(breach["window_start"]), at(breach["window_end"])) == (STARTS, ends)
    timeline = json.loads(ol(desk, ADMIN, "timeline", KEY, "--json").out)["events"]
    signed = [(e["kind"], e["signer"]) for e in timeline if e["kind"].startswith("SlaBreach")]
    assert signed == [("SlaBreachRecorded", INTAKE), ("SlaBreachResolved", INTAKE)]


def test_a_body_over_the_cap_is_413_and_not_read(desk):
    token = issue(desk, SENDER, "alerts", service=True)
    big = b"x" * (MAX_BODY + 1)
    with served(desk) as http:
        declared = http.post(URL, content=big, headers={**bearer(token),
                                                        "Content-Type": "application/json"})
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert f"over the cap of {MAX_BODY}" in declared.json()["detail"]

        def streamed():  # chunked, no Content-Length: refused once the cap is passed
            for _ in range(MAX_BODY // 65536 + 2):
                yield b"y" * 65536

        chunked = http.post(URL, content=streamed(), headers=bearer(token))
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413
        bad = http.post(URL, content=b"{not json", headers=bearer(token))
        assert bad.status_code == 422 and "not an Alertmanager notification" in bad.text
    assert breaches(desk) == []


def test_who_may_send_and_a_server_that_cannot_sign(desk, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    reader = issue(desk, "bob.risk", "read")
    assert ol(desk, ADMIN, "roster", "grant", "probe.bot", "auditor", "--reason", "reads").code == 0
    auditor = issue(desk, "probe.bot", "alerts", service=True)
    token = issue(desk, SENDER, "alerts", service=True)
    with served(desk) as http:
        r = http.post(URL, json=notification(), headers=bearer(reader))
        assert r.status_code == 403 and "'alerts' scope" in r.json()["detail"]
        r = http.post(URL, json=notification(), headers=bearer(auditor))
        assert r.status_code == 403 and "may record a breach" in r.json()["detail"]
    with served(desk, signer=None) as http:  # no --identity and no agent
        r = http.post(URL, json=notification(), headers=bearer(token))
        assert r.status_code == 503 and "--identity KEY serve" in r.json()["detail"]
    assert breaches(desk) == []


def test_text_the_record_cannot_keep_is_refused_and_the_views_stay_readable(desk, tmp_path):
    """A NUL (PostgreSQL's text refuses it: the incidents view could never catch
    up again) or an unpaired surrogate (not UTF-8 at all) in a label, an export
    or an argument is invalid input: 422 or exit 2, nothing recorded."""
    token = issue(desk, SENDER, "alerts", service=True)
    reader = issue(desk, "bob.risk", "read")
    with served(desk, raise_server_exceptions=False) as http:
        for bad in ("X\u0000", "X\ud800"):
            body = json.dumps(notification(alertname=bad)).encode()
            r = http.post(URL, content=body, headers={**bearer(token),
                                                      "content-type": "application/json"})
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
        assert http.get("/api/v1/incidents", headers=bearer(reader)).json() == []
    export = tmp_path / "export.json"
    export.write_text('{"status":"success","data":{"resultType":"matrix","result":[{"metric":'
                      '{"__name__":"metrics.execution.latency","x":"a\\ud800"},"values":'
                      '[[1795443900,"500"],[1795443960,"500"]]}]}}')
    r = ol(desk, "dana.ops", "sla", "evaluate", KEY, str(export))
    assert r.code == 2 and len(r.error_lines) == 1 and "x" in r.err, r.err
    r = ol(desk, "dana.ops", "flag", "set", "live.enabled", "true", "--reason", "bad \udcff byte")
    assert r.code == 2 and len(r.error_lines) == 1 and "reason" in r.err, r.err
    assert breaches(desk) == []
