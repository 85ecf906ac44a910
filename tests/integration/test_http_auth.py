"""`opsledger serve`'s door: every route but the probes and the login form
refuses missing, wrong, expired and revoked credentials (401), and holders
without the scope or a reading role (403), always as an RFC 9457 problem."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from httpdesk import ADMIN, SECOND_ADMIN, bearer, client, found_desk, issue, ol
from opsledger.web.app import route_table
from opsledger.web.auth import COOKIE, is_public

SAMPLES = {"key": "CHG-2041", "name": "live.enabled", "position": "1"}


@pytest.fixture
def desk(cli_env):
    found_desk(cli_env)
    return cli_env


def guarded_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app serves that is not public, from its route table:
    a route added later is tested without being named here."""
    out = []
    for method, template in route_table(app):
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLES.get(m[1], "x"), template)
        if not is_public(path):
            out.append((method, path))
    return out


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_every_guarded_route_refuses_missing_wrong_expired_and_revoked_credentials(
        desk, monkeypatch):
    good = issue(desk, "bob.risk", "read", "act", "alerts")
    revoked = issue(desk, "carol.compliance", "read")
    revoked_id = revoked.split("_")[1]
    assert ol(desk, ADMIN, "roster", "token", "revoke", revoked_id, "--reason", "left").code == 0
    token_id, secret = good[4:].split("_", 1)
    wrong = f"olt_{token_id}_{'A' * len(secret)}"
    unknown = f"olt_{'0' * 16}_{secret}"
    with client(desk) as http:
        routes = guarded_routes(http.app)
        assert ("GET", "/api/v1/tickets") in routes and ("POST", "/api/v1/actions") in routes
        assert ("GET", "/metrics") in routes and ("GET", "/api/v1/openapi.json") in routes
        assert ("POST", "/api/v1/alertmanager") in routes  # Alertmanager's webhook
        for method, path in routes:
            for headers in ({}, bearer(wrong), bearer(unknown), bearer(revoked),
                            bearer("not-a-token"), {"Authorization": "Basic Ym9iOnB3"}):
                r = http.request(method, path, headers=headers)
                body = assert_problem(r, 401)
                assert r.headers["www-authenticate"].startswith("Bearer")
                assert secret not in r.text
            if method == "GET":  # the good token passes the door (the route may still 404)
                assert http.get(path, headers=bearer(good)).status_code != 401, path
        assert "revoked" in body["detail"] or "token" in body["detail"]

        # The same token a month and a day later: expired, on every route.
        import opsledger.services.tokens as tokens

        later = tokens.utcnow() + timedelta(days=31)
        monkeypatch.setattr(tokens, "utcnow", lambda: later)
        for method, path in routes:
            body = assert_problem(http.request(method, path, headers=bearer(good)), 401)
            assert "expired" in body["detail"]


def test_scope_and_reading_role_are_required(desk):
    alerts_only = issue(desk, "erin.sre", "alerts")
    # An administrator reads nothing by holding the roster: reading needs a reading role.
    admin_token = issue(desk, SECOND_ADMIN, "read", admin=ADMIN)
    read_only = issue(desk, "alice.rm", "read")
    with client(desk) as http:
        body = assert_problem(http.get("/api/v1/tickets", headers=bearer(alerts_only)), 403)
        assert "'read' scope" in body["detail"]
        body = assert_problem(http.get("/api/v1/tickets", headers=bearer(admin_token)), 403)
        assert "reading needs" in body["detail"]
        assert_problem(http.post("/api/v1/actions", json={"payload": "", "signature": ""},
                                 headers=bearer(read_only)), 403)
        assert http.get("/api/v1/tickets", headers=bearer(read_only)).status_code == 200


def test_issuing_is_the_administrators_and_never_records_the_secret(desk):
    r = ol(desk, "alice.rm", "roster", "token", "issue", "bob.risk", "--scope", "read")
    assert r.code == 1 and "needs the Administrator" in r.err
    r = ol(desk, ADMIN, "roster", "token", "issue", ADMIN, "--scope", "read")
    assert r.code == 1 and "themselves" in r.err
    r = ol(desk, ADMIN, "roster", "token", "issue", "bob.risk", "--scope", "read",
           "--service-account")
    assert r.code == 1 and "holds an SSH key" in r.err
    r = ol(desk, ADMIN, "roster", "token", "issue", "nobody.here", "--scope", "read")
    assert r.code == 1 and "no role" in r.err
    r = ol(desk, ADMIN, "roster", "token", "issue", "bob.risk", "--scope", "read",
           "--expires", "5y")
    assert r.code == 2 and r.error_lines == [
        "opsledger: error: --expires '5y': a number and h, d or w (30d)"]
    token = issue(desk, "bob.risk", "read")
    listed = ol(desk, ADMIN, "roster", "token", "list", "--json")
    assert listed.code == 0 and token.split("_", 2)[2] not in listed.out
    timeline = ol(desk, ADMIN, "timeline", "CHG-2041", "--json").out
    assert token.split("_", 2)[2] not in timeline
    from httpdesk import services_of

    services = services_of(desk)
    stored = b"".join(n.state for n in services.ledger_app.notifications())
    assert token.split("_", 2)[2].encode() not in stored
    assert b"sha256:" in stored
    # The record replays: every token event is signed by its administrator.
    audit = ol(desk, ADMIN, "roster", "audit", "--json")
    assert audit.code == 0, audit.out


def test_a_service_account_holds_a_role_and_no_key(desk):
    assert ol(desk, ADMIN, "roster", "grant", "alertmanager", "operator", "--reason",
              "webhook intake").code == 0
    r = ol(desk, ADMIN, "roster", "token", "issue", "alertmanager", "--scope", "act",
           "--service-account")
    assert r.code == 1 and "no 'act' scope" in r.err
    token = issue(desk, "alertmanager", "alerts", service=True)
    listed = ol(desk, ADMIN, "roster", "token", "list", "--json").out
    assert '"account": "service"' in listed
    with client(desk) as http:
        assert_problem(http.get("/api/v1/tickets", headers=bearer(token)), 403)


def test_the_browser_logs_in_with_a_cookie_and_out_again(desk):
    token = issue(desk, "bob.risk", "read")
    with client(desk) as http:
        page = http.get("/login")
        assert page.status_code == 200 and '<label for="token">' in page.text
        bad = http.post("/login", data={"token": "olt_nope"}, follow_redirects=False)
        assert bad.status_code == 401 and 'role="alert"' in bad.text
        r = http.post("/login", data={"token": token}, follow_redirects=False)
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        assert http.get("/api/v1/tickets").status_code == 200  # the cookie alone
        http.post("/logout", follow_redirects=False)
        http.cookies.clear()
        assert_problem(http.get("/api/v1/tickets"), 401)


def test_a_trusted_proxy_header_is_honoured_only_from_the_proxy(desk):
    from opsledger.web.auth import TrustedProxy

    proxy = TrustedProxy("X-Forwarded-User", ("10.0.0.5",))
    with client(desk, proxy=proxy, client=("10.0.0.5", 4000)) as http:
        assert http.get("/api/v1/tickets", headers={"X-Forwarded-User": "bob.risk"}).status_code == 200
        body = assert_problem(http.get("/api/v1/tickets",
                                       headers={"X-Forwarded-User": "nobody.here"}), 403)
        assert "no role" in body["detail"]
    with client(desk, proxy=proxy, client=("10.0.0.6", 4000)) as http:
        assert_problem(http.get("/api/v1/tickets", headers={"X-Forwarded-User": "bob.risk"}), 401)
    with client(desk, client=("10.0.0.5", 4000)) as http:  # off by default
        assert_problem(http.get("/api/v1/tickets", headers={"X-Forwarded-User": "bob.risk"}), 401)


def test_probes_need_no_credential_and_readyz_says_when_stores_cannot_be_read(desk, tmp_path):
    with client(desk) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["head"] > 0
    with client({"OPSLEDGER_HOME": str(tmp_path / "nothing")}) as http:
        body = assert_problem(http.get("/readyz"), 503)
        assert "no event store" in body["detail"]
        assert http.get("/healthz").status_code == 200


def test_garbage_gets_a_problem_never_a_trace(desk):
    token = issue(desk, "bob.risk", "read", "act")
    with client(desk, raise_server_exceptions=False) as http:
        h = bearer(token)
        assert_problem(http.post("/api/v1/actions", content=b"\xff{not json", headers={
            **h, "content-type": "application/json"}), 400)
        assert_problem(http.post("/api/v1/actions", json={"payload": "!!", "signature": "x"},
                                 headers=h), 422)
        assert_problem(http.post("/api/v1/actions", json={"payload": "e30=", "signature": "x",
                                                          "extra": 1}, headers=h), 422)
        assert_problem(http.post("/api/v1/actions", json={"payload": "e30=", "signature": "x"},
                                 headers=h), 403)  # {} is no signed intent
        assert_problem(http.get("/api/v1/tickets/CHG-2041?as_of=yesterday", headers=h), 422)
        assert_problem(http.get("/api/v1/tickets/%00%ff", headers=h), 422)
        assert_problem(http.get("/api/v1/tickets/NOPE-1", headers=h), 404)
        assert_problem(http.get("/api/v1/incidents?limit=-3", headers=h), 422)
        assert_problem(http.get("/api/v1/flags/..%2F..%2Fetc/history", headers=h), 404)
        assert_problem(http.get("/api/v1/flags/Live%20Enabled/history", headers=h), 422)
        assert_problem(http.get("/api/v1/nowhere", headers=h), 404)
        assert_problem(http.delete("/api/v1/tickets", headers=h), 405)


def test_requests_are_logged_and_counted_without_the_credential(desk, caplog):
    token = issue(desk, "bob.risk", "read")
    with client(desk) as http, caplog.at_level("INFO", logger="opsledger.web.access"):
        http.get("/api/v1/tickets", headers=bearer(token))
        http.get("/api/v1/tickets", headers=bearer(token + "x"))
        metrics = http.get("/metrics", headers=bearer(token)).text
    lines = [r.getMessage() for r in caplog.records if r.name == "opsledger.web.access"]
    assert any(re.fullmatch(r"GET /api/v1/tickets 200 [\d.]+ms bob\.risk\(token:[0-9a-f]{16}\)", x)
               for x in lines), lines
    assert any(x.startswith("GET /api/v1/tickets 401 ") for x in lines)
    assert all(token.split("_", 2)[2] not in x for x in lines)
    assert 'opsledger_http_requests_total{method="GET",route="/api/v1/tickets",status="200"} 1.0' \
        in metrics
    assert "opsledger_http_request_duration_seconds_bucket" in metrics
    assert re.search(r'opsledger_projection_lag_events\{view="tickets"\} \d', metrics)


def test_out_of_range_numbers_and_times_get_a_problem_never_a_500(desk):
    """Times whose UTC falls outside years 1-9999 and positions past a 64-bit
    integer are invalid input (422; exit 2 on the command line), not a crash."""
    token = issue(desk, "bob.risk", "read")
    with client(desk, raise_server_exceptions=False) as http:
        h = bearer(token)
        for query in ("as_of=9999-12-31T23:59:59-14:00", "as_of=0001-01-01T00:00:00%2B14:00",
                      "at_position=99999999999999999999999"):
            assert_problem(http.get(f"/api/v1/tickets/CHG-2041?{query}", headers=h), 422)
        assert_problem(http.get("/api/v1/ledger/proofs/99999999999999999999999", headers=h), 422)
        assert_problem(http.get("/api/v1/roster?at_version=99999999999999999999", headers=h),
                       422)
    r = ol(desk, ADMIN, "ticket", "show", "CHG-2041", "--as-of", "9999-12-31T23:59:59-14:00")
    assert r.code == 2 and len(r.error_lines) == 1 and "out of range" in r.err, r.err


def test_a_name_with_a_trailing_line_break_is_no_name(desk):
    """`^...$` matches before a final newline: 'mallory\\n' is not a person, a
    flag or a ticket, and nothing is recorded under such a name."""
    r = ol(desk, ADMIN, "roster", "grant", "mallory\n", "auditor", "--reason", "x")
    assert r.code == 2 and "not a person's name" in r.err, r.err
    shown = ol(desk, ADMIN, "roster", "show", "--json")
    assert "mallory" not in shown.out
    token = issue(desk, "bob.risk", "read")
    with client(desk, raise_server_exceptions=False) as http:
        assert_problem(http.get("/api/v1/flags/live.enabled%0A/history",
                                headers=bearer(token)), 422)


def test_revoking_by_the_whole_token_never_echoes_its_secret(desk):
    token = issue(desk, "bob.risk", "read")
    for given in (token, " " + token, token + "x"):
        r = ol(desk, ADMIN, "roster", "token", "revoke", given)
        assert r.code == 2 and len(r.error_lines) == 1, r.err
        assert token.split("_", 2)[2][:8] not in r.err + r.out, r.err
