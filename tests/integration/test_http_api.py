"""The JSON API answers what the CLI answers (the same service calls), its
OpenAPI schema is valid, documents every route and describes every answer,
and a signed action posted by its signer is recorded exactly as the CLI
records it: never without a signature, never twice, never altered."""

from __future__ import annotations

import base64
import json

import pytest
from clirunner import key_file
from httpdesk import ADMIN, KEY, bearer, client, found_desk, issue, ol, services_of
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.domain.model import utcnow
from opsledger.domain.signing import NAMESPACE, Intent, encode_args
from opsledger.web.app import route_table


@pytest.fixture
def desk(cli_env):
    """A ticket with a breach, the live flag set twice, and a signed ledger checkpoint."""
    found_desk(cli_env)
    steps = [
        ("dana.ops", "flag", "set", "live.enabled", "true", "--reason", "deploy", "--ticket", KEY),
        ("dana.ops", "flag", "set", "live.enabled", "false", "--reason", "settle", "--ticket", KEY),
        ("dana.ops", "sla", "breach", KEY, "--metric", "metrics.execution.latency", "--observed",
         "163", "--threshold", "120", "--unit", "ms", "--start", "2026-11-23T14:05:00Z",
         "--severity", "critical", "--escalation", "Execution Trader", "--incident", "INC-7731"),
        ("erin.sre", "keys", "init"),
        ("erin.sre", "ledger", "checkpoint"),
    ]
    for actor, *argv in steps:
        r = ol(cli_env, actor, *argv)
        assert r.code == 0, (argv, r.err)
    return cli_env


def cli_json(env, *argv: str):
    r = ol(env, ADMIN, *argv, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_each_read_answers_what_the_cli_answers(desk):
    token = issue(desk, "bob.risk", "read")
    with client(desk, headers=bearer(token)) as http:
        def get(path: str):
            r = http.get(path)
            assert r.status_code == 200, (path, r.text)
            return r.json()

        assert get("/api/v1/tickets") == cli_json(desk, "ticket", "list")
        assert get("/api/v1/tickets?status=open&limit=1") == cli_json(
            desk, "ticket", "list", "--status", "open", "--limit", "1")
        shown = get(f"/api/v1/tickets/{KEY}")
        cli = cli_json(desk, "ticket", "show", KEY)
        assert {k: shown[k] for k in cli} == cli
        then = get(f"/api/v1/tickets/{KEY}?at_position={shown['position'] - 1}")
        assert then["breach_count"] == 0 and shown["breach_count"] == 1
        assert get(f"/api/v1/tickets/{KEY}/timeline") == cli_json(desk, "timeline", KEY)
        assert get("/api/v1/flags/live.enabled/history") == cli_json(
            desk, "flag", "history", "live.enabled")
        incidents = get("/api/v1/incidents?metric=metrics.execution.latency"
                        "&since=2026-11-01T00:00:00Z&severity=critical")
        assert incidents == cli_json(desk, "incidents", "--metric", "metrics.execution.latency",
                                     "--since", "2026-11-01T00:00:00Z", "--severity", "critical")
        assert len(incidents) == 1 and get("/api/v1/incidents?ticket=CHG-9") == []
        assert get("/api/v1/roster") == cli_json(desk, "roster", "show")
        assert get("/api/v1/roster/keys") == cli_json(desk, "roster", "keys")
        ledger = get("/api/v1/ledger")
        assert ledger["checkpoints"] and ledger == cli_json(desk, "ledger", "status")
        checkpoint = get("/api/v1/ledger/checkpoint")
        assert checkpoint["size"] == max(ledger["checkpoints"]) and "\n\n" in checkpoint["note"]
        proof = get("/api/v1/ledger/proofs/3")
        assert proof == cli_json(desk, "ledger", "proof", "--position", "3")
        assert get("/api/v1/archives") == []


def resolve(spec: dict, schema: dict) -> dict:
    return {**schema, "components": spec["components"]}


def test_the_openapi_schema_is_valid_and_describes_every_route_and_answer(desk):
    token = issue(desk, "bob.risk", "read", "act")
    with client(desk, headers=bearer(token)) as http:
        spec = http.get("/api/v1/openapi.json").json()
        validate_spec(spec)
        documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
        hidden = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"),
                  ("GET", "/api/v1/openapi.json"),
                  # the HTML pages (web/pages.py), for people; tests/browser/ checks them
                  ("GET", "/"), ("GET", "/tickets/{key}"), ("GET", "/tickets/{key}/timeline"),
                  ("GET", "/incidents")}
        for route in route_table(http.app):
            assert route in documented or route in hidden, f"{route} is not in the schema"
        samples = {
            "/api/v1/tickets": "/api/v1/tickets",
            "/api/v1/tickets/{key}": f"/api/v1/tickets/{KEY}",
            "/api/v1/tickets/{key}/timeline": f"/api/v1/tickets/{KEY}/timeline",
            "/api/v1/flags/{name}/history": "/api/v1/flags/live.enabled/history",
            "/api/v1/incidents": "/api/v1/incidents",
            "/api/v1/archives": "/api/v1/archives",
            "/api/v1/ledger": "/api/v1/ledger",
            "/api/v1/ledger/checkpoint": "/api/v1/ledger/checkpoint",
            "/api/v1/ledger/proofs/{position}": "/api/v1/ledger/proofs/2",
            "/api/v1/roster": "/api/v1/roster",
            "/api/v1/roster/keys": "/api/v1/roster/keys",
            "/healthz": "/healthz",
            "/readyz": "/readyz",
        }
        for template, path in samples.items():
            r = http.get(path)
            assert r.status_code == 200, (path, r.text)
            schema = spec["paths"][template]["get"]["responses"]["200"]["content"][
                "application/json"]["schema"]
            OAS31Validator(resolve(spec, schema)).validate(r.json())
        problem = http.get("/api/v1/tickets/NOPE-1")
        schema = spec["paths"]["/api/v1/tickets/{key}"]["get"]["responses"]["404"]["content"][
            "application/problem+json"]["schema"]
        OAS31Validator(resolve(spec, schema)).validate(problem.json())


def signed(person: str, action: str, target: str, version: int, **args) -> dict:
    intent = Intent(action=action, target=target, version=version, args=encode_args(args),
                    signer=person, at=utcnow())
    payload = intent.to_bytes()
    signature = FileKeySigner(key_file(person)).sign(payload, NAMESPACE)
    return {"payload": base64.b64encode(payload).decode(), "signature": signature}


def test_a_signed_action_is_recorded_once_and_only_for_its_signer(desk):
    dana = issue(desk, "dana.ops", "read", "act")
    bob = issue(desk, "bob.risk", "read", "act")
    version = services_of(desk).ledger_app.target_version("flag:live.enabled")
    body = signed("dana.ops", "set_flag", "flag:live.enabled", version, name="live.enabled",
                  value="true", role=None, reason="deploy momo-1", ticket=KEY)
    with client(desk) as http:
        # Bob's token cannot carry Dana's signed intent.
        r = http.post("/api/v1/actions", json=body, headers=bearer(bob))
        assert r.status_code == 403 and "dana.ops" in r.json()["detail"]
        # Altered after signing: the signature no longer verifies.
        forged = json.loads(base64.b64decode(body["payload"]))
        forged["args"]["reason"] = "deploy momo-2"
        tampered = {**body, "payload": base64.b64encode(
            json.dumps(forged, separators=(",", ":"), sort_keys=True).encode()).decode()}
        r = http.post("/api/v1/actions", json=tampered, headers=bearer(dana))
        assert r.status_code == 403, r.text
        # No signature, no record.
        r = http.post("/api/v1/actions", json={**body, "signature": ""}, headers=bearer(dana))
        assert r.status_code == 403, r.text

        r = http.post("/api/v1/actions", json=body, headers=bearer(dana))
        assert r.status_code == 201, r.text
        done = r.json()
        assert done["signer"] == "dana.ops" and done["events"] == 1
        assert done["result"] == ["false", "true", True]
        # The same signed intent again: bound to the version it was signed for.
        r = http.post("/api/v1/actions", json=body, headers=bearer(dana))
        assert r.status_code == 409 and "version" in r.json()["detail"]
        # A forged intent is refused as forged, stale or not: the version check comes
        # after the signature, so a forger learns nothing about the record.
        r = http.post("/api/v1/actions", json=tampered, headers=bearer(dana))
        assert r.status_code == 403 and "version" not in r.json()["detail"], r.text
        metrics = http.get("/metrics", headers=bearer(dana)).text
        assert 'opsledger_http_events_recorded_total{route="/api/v1/actions"} 1.0' in metrics

    history = cli_json(desk, "flag", "history", "live.enabled")["changes"]
    assert [(c["new"], c["actor"], c["reason"]) for c in history][-1] == \
        ("true", "dana.ops", "deploy momo-1")
    timeline = cli_json(desk, "timeline", KEY)["events"]
    assert timeline[-1]["signer"] == "dana.ops" and timeline[-1]["signed"] == body["payload"]
    assert cli_json(desk, "roster", "audit")["ok"] is True


def test_the_server_screens_signed_arguments_for_secrets(desk):
    dana = issue(desk, "dana.ops", "read", "act")
    version = services_of(desk).ledger_app.target_version("flag:live.enabled")
    body = signed("dana.ops", "set_flag", "flag:live.enabled", version, name="live.enabled",
                  value="true", role=None, ticket=KEY,
                  reason="deploy with password=Trading2026Secret!")
    with client(desk) as http:
        r = http.post("/api/v1/actions", json=body, headers=bearer(dana))
        assert r.status_code == 409 and "secret" in r.json()["detail"]
        assert "Trading2026Secret" not in r.text
    assert len(cli_json(desk, "flag", "history", "live.enabled")["changes"]) == 2
