"""services/alert_intake.py: Alertmanager's webhook body, as `POST /api/v1/alertmanager`
hands it over, recorded by the service account it runs as. Firing, resends, resolved,
resolved again: one breach with its true window; alerts no ticket claims are reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirunner import invoke, key_file, public_key_file, staff
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.domain.errors import NotAuthorised
from opsledger.domain.runbook import Role
from opsledger.services.alert_intake import receive_alertmanager
from opsledger.services.bootstrap import Services
from opsledger.services.errors import InvalidRequest
from opsledger.services.settings import Settings
from story import ADMIN, PEOPLE, run_session

ARTIFACT = "sha256:" + "ab" * 32
BOT = "alertmanager.bot"
# CHG-5's session ran from T0 for two hours; CHG-6's the next day.
T0 = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
DURING = T0 + timedelta(minutes=35)
ZERO = "0001-01-01T00:00:00Z"


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def alert(status: str = "firing", *, starts: datetime = DURING, ends: datetime | None = None,
          name: str = "OrderLatencyHigh", **labels: str) -> dict:
    return {"status": status,
            "labels": {"alertname": name, "sla_rule": "order_latency", "strategy": "momo-1",
                       **labels},
            "annotations": {"value": "171", "summary": "p95 order latency above 120 ms"},
            "startsAt": z(starts), "endsAt": z(ends) if ends else ZERO,
            "fingerprint": "5e1d2c3b4a596877", "generatorURL": "http://prometheus/graph"}


def body(*alerts: dict, status: str = "firing") -> bytes:
    return json.dumps({"version": "4", "status": status, "receiver": "opsledger",
                       "groupKey": '{}:{alertname="OrderLatencyHigh"}', "truncatedAlerts": 0,
                       "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}).encode()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": ADMIN}
    staff(env)
    for argv in (["roster", "key", "add", BOT, str(public_key_file(BOT)), "--reason",
                  "the Alertmanager receiver's service account"],
                 ["roster", "grant", BOT, "alert-receiver", "--reason", "records alerts"]):
        assert invoke(argv, env).code == 0
    operator = {**env, "OPSLEDGER_ACTOR": PEOPLE[Role.OPERATOR]}
    for key in ("CHG-5", "CHG-6", "CHG-7"):
        assert invoke(["ticket", "open", key, "--strategy", "momo-1", "--artifact", ARTIFACT],
                      operator).code == 0
    services = Services(Settings.from_env(environ={"OPSLEDGER_HOME": env["OPSLEDGER_HOME"]}))
    services.act_as(FileKeySigner(key_file(PEOPLE[Role.OPERATOR])))
    run_session(services.app, "CHG-5", start=T0, end=T0 + timedelta(hours=2))
    run_session(services.app, "CHG-6", start=T0 + timedelta(days=1),
                end=T0 + timedelta(days=1, hours=2))
    services.act_as(FileKeySigner(key_file(BOT)))  # the server's own key from here on
    yield services
    services.close()


def events(services: Services, key: str) -> int:
    return len(services.app.ticket_events(key))


def test_fire_resend_resolve_resolve_again_is_one_breach_with_its_window(services):
    fired = receive_alertmanager(services, body(alert()))
    assert (fired["new"], fired["ended"], list(fired["tickets"])) == (1, 0, ["CHG-5"])
    (breach,) = fired["tickets"]["CHG-5"]["breaches"]
    assert breach["window_end"] is None and breach["observed"] == 171
    recorded = events(services, "CHG-5")

    resent = receive_alertmanager(services, body(alert()))
    assert (resent["new"], resent["ended"], resent["already_recorded"]) == (0, 0, 1)
    assert events(services, "CHG-5") == recorded

    ends = DURING + timedelta(minutes=4)
    resolved = receive_alertmanager(services, body(alert("resolved", ends=ends),
                                                   status="resolved"))
    assert (resolved["new"], resolved["ended"]) == (0, 1)
    assert resolved["tickets"]["CHG-5"]["breaches"][0]["breach_id"] == breach["breach_id"]
    again = receive_alertmanager(services, body(alert("resolved", ends=ends), status="resolved"))
    assert (again["new"], again["ended"], again["already_recorded"]) == (0, 0, 1)
    assert events(services, "CHG-5") == recorded + 1

    (kept,) = services.app.get_ticket("CHG-5").breaches.values()
    assert (kept["window_start"], kept["window_end"]) == (DURING, ends)
    # signed by the service account's key
    last = services.app.ticket_events("CHG-5")[-1]
    assert last.signature is not None and last.signature.signer == BOT


def test_the_change_ticket_label_wins_over_the_live_session(services):
    done = receive_alertmanager(services, body(alert(change_ticket="CHG-7")))
    assert list(done["tickets"]) == ["CHG-7"] and done["new"] == 1
    assert services.app.get_ticket("CHG-5").breaches == {}


def test_the_live_session_at_startsat_claims_an_unlabelled_alert(services):
    next_day = T0 + timedelta(days=1, minutes=10)
    done = receive_alertmanager(services, body(alert(starts=next_day),
                                               alert(starts=DURING, name="Other")))
    assert sorted(done["tickets"]) == ["CHG-5", "CHG-6"] and done["new"] == 2
    # a session's end is its settle's end: a minute after it, nothing is live
    after = receive_alertmanager(services, body(alert(starts=T0 + timedelta(hours=2, minutes=1))))
    assert after["tickets"] == {} and "no session was live" in after["unmatched"][0]["reason"]


def test_unmatched_alerts_are_reported_and_the_rest_recorded(services):
    done = receive_alertmanager(services, body(
        alert(starts=T0 - timedelta(days=3), name="Before"),
        alert(change_ticket="CHG-404", name="Unknown"),
        alert(change_ticket="not a key", name="Garbled"),
        alert(name="Claimed")))
    assert done["alerts"] == 4 and done["new"] == 1 and list(done["tickets"]) == ["CHG-5"]
    reasons = {u["alertname"]: u["reason"] for u in done["unmatched"]}
    assert "no session was live" in reasons["Before"]
    assert 'change_ticket="CHG-404" names no ticket' == reasons["Unknown"]
    assert "is not a ticket key" in reasons["Garbled"]


def test_two_live_sessions_leave_an_unlabelled_alert_unmatched(services):
    bot = services.identity
    services.act_as(FileKeySigner(key_file(PEOPLE[Role.OPERATOR])))
    run_session(services.app, "CHG-7", start=T0 + timedelta(minutes=30),
                end=T0 + timedelta(hours=1))
    services.act_as(bot)
    done = receive_alertmanager(services, body(alert()))
    assert done["tickets"] == {} and "CHG-5, CHG-7 were all live" in done["unmatched"][0]["reason"]


def test_an_alert_no_rule_claims_is_reported_on_its_ticket(services):
    stray = alert(name="DiskFull")
    del stray["labels"]["sla_rule"]
    done = receive_alertmanager(services, body(stray))
    assert done["new"] == 0 and done["tickets"]["CHG-5"]["unmatched_alerts"]


@pytest.mark.parametrize("bad, why", [
    (b"{not json", "not an Alertmanager notification"),
    (json.dumps({"version": "3", "alerts": []}).encode(), 'expected webhook version "4"'),
    (json.dumps({"version": "4", "alerts": [{"status": "firing"}]}).encode(),
     "not an Alertmanager notification"),
    (b"[]", "not an Alertmanager notification"),
])
def test_a_malformed_body_is_refused_and_records_nothing(services, bad, why):
    before = events(services, "CHG-5")
    with pytest.raises(InvalidRequest, match=why) as refused:
        receive_alertmanager(services, bad)
    assert "\n" not in str(refused.value)
    assert events(services, "CHG-5") == before


def test_an_oversize_body_is_refused_before_it_is_read(services):
    huge = body(*[alert(name=f"A{k}") for k in range(4000)])
    assert len(huge) > 1 << 20
    with pytest.raises(InvalidRequest, match="over the cap of 1048576"):
        receive_alertmanager(services, huge)
    assert services.app.get_ticket("CHG-5").breaches == {}


def test_a_service_account_without_a_breach_role_records_nothing(services, tmp_path):
    services.act_as(FileKeySigner(key_file(PEOPLE[Role.COMPLIANCE_OFFICER])))
    with pytest.raises(NotAuthorised):
        receive_alertmanager(services, body(alert()))
    assert services.app.get_ticket("CHG-5").breaches == {}


def test_the_intake_key_records_breaches_and_nothing_else(services):
    """A stolen intake key (the server's own, role alert-receiver): it cannot
    flip live.enabled, run a script, sign a checkpoint or close a ticket."""
    for attempt in (lambda: services.app.set_flag("live.enabled", value="true", reason="stolen key",
                                                  actor=BOT, role=None),
                    lambda: services.app.close_ticket("CHG-5", actor=BOT, role=None)):
        with pytest.raises(NotAuthorised):
            attempt()
    assert receive_alertmanager(services, body(alert()))["new"] == 1
