"""A real Alertmanager 0.25 notifies a real `opsledger serve`: an alert fired through
Alertmanager's API becomes one breach, re-posting it records nothing new, and its
resolution records the breach's end once, with the true window. With a wrong token,
Alertmanager's notifications fail (401) and nothing is recorded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from clirunner import invoke, key_file, public_key_file, staff
from fixtures_alertmanager import alertmanager, require_alertmanager
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.domain.runbook import Command, Role
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings
from realserver import free_port, stop
from story import ADMIN, FILE_SHA, PEOPLE

INTAKE = "opsledger.intake"  # the roster name whose key `opsledger serve` signs with
SENDER = "alertmanager"  # the service account (no key) whose token Alertmanager presents
TICKET, QUIET = "CHG-2041", "CHG-2042"
ARTIFACT = "sha256:" + "ab" * 32
POLICY = '[rules.order_latency]\nalertnames = ["OrderLatencyHigh"]\n'


def ol(env: dict[str, str], actor: str, *argv: str) -> None:
    r = invoke(list(argv), {**env, "OPSLEDGER_ACTOR": actor})
    assert r.code == 0, (argv, r.err)
    return r.out.strip()


def poll(check: Callable[[], object], what: str, seconds: float = 30.0) -> object:
    """`check()` once it is truthy; fails after `seconds` with `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"not within {seconds:g} s: {what}")


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def live_session(home: Path, key: str, began: datetime) -> None:
    """The operator's deploy of `key`, recorded as `opsledger run` does; no settle yet."""
    services = Services(Settings.from_env(environ={"OPSLEDGER_HOME": str(home)}))
    try:
        services.act_as(FileKeySigner(key_file(PEOPLE[Role.OPERATOR])))
        run_id, _, _ = services.app.start_command(
            key, command=Command.DEPLOY, argv=["tradepulse-cli", "deploy"],
            actor=PEOPLE[Role.OPERATOR], log_path="deploy.log", role=Role.OPERATOR,
            started_at=began)
        services.app.finish_command(
            key, run_id=run_id, outcome="exited", exit_code=0, log_sha256=FILE_SHA,
            log_bytes=10, actor=PEOPLE[Role.OPERATOR], role=Role.OPERATOR,
            finished_at=began + timedelta(minutes=1))
    finally:
        services.close()


class Desk:
    def __init__(self, base: str, reader: str, log: Path) -> None:
        self.base, self.reader, self.log = base, reader, log

    def incidents(self, key: str) -> list[dict]:
        r = httpx.get(f"{self.base}/api/v1/incidents", params={"ticket": key},
                      headers={"Authorization": f"Bearer {self.reader}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def intake_lines(self, status: int) -> list[str]:
        return [line for line in self.log.read_text().splitlines()
                if f"POST /api/v1/alertmanager {status} " in line]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, opsledger_exe_module) -> Iterator[Desk]:
    require_alertmanager()
    work = tmp_path_factory.mktemp("alertmanager-real")
    home = work / "home"
    env = {"OPSLEDGER_HOME": str(home)}
    staff(env)
    for key in (TICKET, QUIET):
        ol(env, "dave.dev", "ticket", "open", key, "--strategy", "momo-1", "--env", "prod",
           "--artifact", ARTIFACT)
    ol(env, ADMIN, "roster", "key", "add", INTAKE, str(public_key_file(INTAKE)),
       "--reason", "opsledger serve's own key")
    ol(env, ADMIN, "roster", "grant", INTAKE, "alert-receiver", "--reason", "records alerts")
    ol(env, ADMIN, "roster", "grant", SENDER, "alert-receiver", "--reason", "sends alerts")
    token = ol(env, ADMIN, "roster", "token", "issue", SENDER, "--scope", "alerts",
               "--service-account", "--expires", "1d")
    reader = ol(env, ADMIN, "roster", "token", "issue", "bob.risk", "--scope", "read",
                "--expires", "1d")
    (home / "sla-policy.toml").write_text(POLICY)
    live_session(home, TICKET, datetime.now(UTC) - timedelta(minutes=30))

    port = free_port()
    log = work / "serve.log"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("OPSLEDGER_") and k != "SSH_AUTH_SOCK"}
    with open(log, "wb") as out:
        served = subprocess.Popen(
            [*opsledger_exe_module, "--identity", str(key_file(INTAKE)), "serve",
             "--port", str(port)], env={**clean, **env}, stderr=out, stdout=out)
    try:
        poll(lambda: "opsledger: serving" in log.read_text() or served.poll() is not None,
             "opsledger serve says where it listens")
        assert served.poll() is None, log.read_text()
        base = f"http://127.0.0.1:{port}"
        wrong = f"olt_{token.split('_')[1]}_{'A' * 43}"
        with alertmanager(work / "am", url=f"{base}/api/v1/alertmanager", token=token,
                          wrong=wrong) as am:
            desk = Desk(base, reader, log)
            desk.am, desk.token = am, token
            yield desk
    finally:
        stop(served)


@pytest.fixture(scope="module")
def opsledger_exe_module() -> list[str]:
    import sys

    exe = Path(sys.executable).with_name("opsledger")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "opsledger.cli"]


def alert(starts: datetime, ends: datetime | None = None, **labels: str) -> dict:
    sent = {"labels": {"alertname": "OrderLatencyHigh", "change_ticket": TICKET,
                       "severity": "critical", "strategy": "momo-1", **labels},
            "annotations": {"value": "171", "summary": "p95 order latency above 120 ms"},
            "startsAt": z(starts), "generatorURL": "http://prometheus.test/graph"}
    if ends is not None:
        sent["endsAt"] = z(ends)
    return sent


def test_fired_resent_and_resolved_through_alertmanager_is_one_breach(desk):
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    desk.am.post_alerts([alert(starts)])
    (breach,) = poll(lambda: desk.incidents(TICKET), "the breach is recorded")
    assert breach["rule"] == "order_latency" and breach["observed"] == 171
    assert breach["window_start"].startswith(z(starts)[:-1]) and breach["window_end"] is None
    assert breach["source"] == "alertmanager" and breach["ticket"] == TICKET

    # Posted again (as Prometheus re-sends a firing alert): Alertmanager dedups, and
    # whatever it sends again records nothing: still one breach, no end.
    accepted = len(desk.intake_lines(200))
    desk.am.post_alerts([alert(starts)])
    time.sleep(3)  # three group intervals: a resend, if any, has been answered
    assert [b["window_end"] for b in desk.incidents(TICKET)] == [None]

    ends = datetime.now(UTC).replace(microsecond=0)
    desk.am.post_alerts([alert(starts, ends)])
    (ended,) = poll(lambda: [b for b in desk.incidents(TICKET) if b["window_end"]],
                    "the breach's end is recorded")
    assert ended["breach_id"] == breach["breach_id"]
    assert (at(ended["window_start"]), at(ended["window_end"])) == (starts, ends)
    time.sleep(3)  # the resolved notification is not sent twice; if it were, nothing new
    assert len(desk.incidents(TICKET)) == 1
    assert len(desk.intake_lines(200)) > accepted and not desk.intake_lines(500)
    # Signed by the server's key, delivered by the service account's token.
    timeline = httpx.get(f"{desk.base}/api/v1/tickets/{TICKET}/timeline", timeout=10,
                         headers={"Authorization": f"Bearer {desk.reader}"}).json()["events"]
    signed = [(e["kind"], e["signer"]) for e in timeline if e["kind"].startswith("SlaBreach")]
    assert signed == [("SlaBreachRecorded", INTAKE), ("SlaBreachResolved", INTAKE)]
    assert any(f"{SENDER}(token:{desk.token.split('_')[1]})" in line
               for line in desk.intake_lines(200))


def test_a_wrong_token_fails_alertmanager_notifications_and_records_nothing(desk):
    before = desk.am.metric("alertmanager_notifications_failed_total")
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    desk.am.post_alerts([alert(starts, change_ticket=QUIET, token="wrong")])
    poll(lambda: desk.am.metric("alertmanager_notifications_failed_total") > before,
         "Alertmanager counts a failed notification")
    assert desk.intake_lines(401), "serve logged no refused notification"
    assert desk.incidents(QUIET) == []


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(desk):
    """413 is answered while the client has sent 10 bytes of a declared 100 MiB."""
    host, port = desk.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + desk.token.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
                     b'{"version"')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)  # bounded by the socket's 10 s timeout
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), answer
    assert "content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 413 and "over the cap" in json.loads(body)["detail"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
