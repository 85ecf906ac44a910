"""Sustained Alertmanager webhook intake: `opsledger serve` against a load generator
on 127.0.0.1, then the same service call in-process.

    .venv/bin/python bench/intake_bench.py [--seconds 20] [--max 20000] [--tickets 20]
        [--batch 1] [--senders 4]

1. Founds a desk through the real CLI: the server's own key (`opsledger.intake`,
   sre-captain), the `alertmanager` service account with an `alerts` token, and
   --tickets tickets; starts `opsledger --identity KEY serve` on a free port.
2. New alerts: --senders threads (Alertmanager notifies its groups in parallel),
   each with a keep-alive connection, post notifications of --batch firing alerts
   never seen before (spread over the tickets) for --seconds or until --max
   alerts; prints alerts/s recorded and notification p50/p95.
3. Resends: the same notifications again, for as long: prints resends/s and
   checks that nothing new was recorded (every answer says new=0 and ended=0; at
   the end the store holds exactly one breach per new alert).
4. The same notifications, as many as HTTP got through, through
   `receive_alertmanager` in-process on a copy of the store as it was before
   step 2 (recording slows as a ticket's breaches pile up, so the two must
   start equal), and the ratio HTTP rate / in-process rate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from http_bench import cli, key  # noqa: E402
from opsledger.adapters.ssh_signing import FileKeySigner  # noqa: E402
from opsledger.services.alert_intake import receive_alertmanager  # noqa: E402
from opsledger.services.bootstrap import Services  # noqa: E402
from opsledger.services.settings import Settings  # noqa: E402

EXE = Path(sys.executable).with_name("opsledger")
DIGEST = "sha256:" + "ab" * 32
STARTS = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def notification(first: int, batch: int, tickets: int, phase: str) -> bytes:
    """`batch` firing alerts numbered from `first`, each its own series (label `n`)."""
    alerts = [{"status": "firing",
               "labels": {"alertname": "OrderLatencyHigh", "sla_rule": "order_latency",
                          "change_ticket": f"CHG-{n % tickets + 1}", "n": f"{phase}{n}",
                          "severity": "critical"},
               "annotations": {"value": "171"},
               "startsAt": (STARTS + timedelta(seconds=n % 3000)).isoformat().replace(
                   "+00:00", "Z"),
               "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"{n:016x}",
               "generatorURL": "http://prometheus/graph"} for n in range(first, first + batch)]
    return json.dumps({"version": "4", "status": "firing", "receiver": "opsledger",
                       "groupKey": "{}:{}", "truncatedAlerts": 0, "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager:9093", "alerts": alerts}).encode()


def over_http(base: str, token: str, bodies: list[bytes], senders: int, seconds: float,
              ) -> tuple[int, list[dict], list[float], float]:
    """Posts `bodies` in order from `senders` threads until done or `seconds` pass."""
    lock, answers, latencies = threading.Lock(), [], []
    nxt = iter(range(len(bodies)))
    deadline = time.monotonic() + seconds

    def sender() -> None:
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"}) as http:
            while time.monotonic() < deadline:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                t = time.perf_counter()
                r = http.post("/api/v1/alertmanager", content=bodies[i])
                spent = time.perf_counter() - t
                if r.status_code != 200:
                    raise SystemExit(f"{r.status_code} {r.text}")
                with lock:
                    answers.append(r.json())
                    latencies.append(spent * 1000)

    began = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(answers), answers, latencies, time.perf_counter() - began


def in_process(services: Services, bodies: list[bytes], seconds: float,
               ) -> tuple[int, list[dict], float]:
    answers, deadline, began = [], time.monotonic() + seconds, time.perf_counter()
    for body in bodies:
        if time.monotonic() >= deadline:
            break
        answers.append(receive_alertmanager(services, body))
    return len(answers), answers, time.perf_counter() - began


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def totals(answers: list[dict]) -> tuple[int, int, int]:
    return tuple(sum(a[k] for a in answers) for k in ("new", "ended", "already_recorded"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--max", type=int, default=20_000, help="alerts per phase, at most")
    parser.add_argument("--tickets", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1, help="alerts per notification")
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsledger-intake-bench-"))
    home, keys = tmp / "home", tmp / "keys"
    keys.mkdir()
    root, second, dev, intake = (key(keys, p) for p in
                                 ("root.admin", "second.admin", "dave.dev", "opsledger.intake"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OPSLEDGER_") and k != "SSH_AUTH_SOCK"}
    env["OPSLEDGER_HOME"] = str(home)
    cli(env, root, "roster", "init", "--admin", "root.admin", "--second-admin", "second.admin",
        "--second-key", f"{second}.pub")
    for person, public, role in (("dave.dev", dev, "dev-lead"),
                                 ("opsledger.intake", intake, "sre-captain")):
        cli(env, root, "roster", "key", "add", person, f"{public}.pub", "--reason", "bench")
        cli(env, root, "roster", "grant", person, role, "--reason", "bench")
    cli(env, root, "roster", "grant", "alertmanager", "sre-captain", "--reason", "bench")
    token = cli(env, root, "roster", "token", "issue", "alertmanager", "--scope", "alerts",
                "--service-account")
    for n in range(1, args.tickets + 1):
        cli(env, dev, "ticket", "open", f"CHG-{n}", "--strategy", "momo-1", "--artifact", DIGEST)

    shutil.copytree(home, tmp / "home-in-process")  # step 4 starts from this same store
    count = max(1, args.max // args.batch)
    fresh = [notification(i * args.batch, args.batch, args.tickets, "h") for i in range(count)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp / "serve.log"
    with log_path.open("w") as log:  # a file: a pipe nobody reads would stall the server
        server = subprocess.Popen([str(EXE), "--identity", str(intake), "serve", "--port",
                                   str(port)], env=env, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while "serving" not in log_path.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"serve did not start: {log_path.read_text()}")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        sent, answers, lat, spent = over_http(base, token, fresh, args.senders, args.seconds)
        new, _, seen = totals(answers)
        if (new, seen) != (sent * args.batch, 0):
            raise SystemExit(f"expected {sent * args.batch} new, got new={new} seen={seen}")
        print(f"HTTP new alerts: {new} recorded in {spent:.1f}s = {new / spent:.1f} alerts/s "
              f"({sent} notifications of {args.batch}, {args.senders} senders; "
              f"p50 {pct(lat, 50):.1f} ms p95 {pct(lat, 95):.1f} ms)")
        http_new_rate, http_recorded = new / spent, new
        rsent, ranswers, rlat, rspent = over_http(base, token, fresh[:sent], args.senders,
                                                  args.seconds)
        rnew, rended, rseen = totals(ranswers)
        if (rnew, rended, rseen) != (0, 0, rsent * args.batch):
            raise SystemExit(f"resends recorded something: new={rnew} ended={rended}")
        print(f"HTTP resends: {rseen} in {rspent:.1f}s = {rseen / rspent:.1f} alerts/s, "
              f"nothing new recorded (p50 {pct(rlat, 50):.1f} ms p95 {pct(rlat, 95):.1f} ms)")
        http_seen_rate = rseen / rspent
    finally:
        server.terminate()
        server.wait(timeout=30)

    served = Services(Settings.from_env({}, home=home))
    try:
        held = sum(len(served.app.get_ticket(f"CHG-{n}").breaches)
                   for n in range(1, args.tickets + 1))
    finally:
        served.close()
    if held != http_recorded:
        raise SystemExit(f"the served store holds {held} breaches, {http_recorded} were new")
    services = Services(Settings.from_env({}, home=tmp / "home-in-process"))
    services.act_as(FileKeySigner(intake))
    try:
        done, answers, spent = in_process(services, fresh[:sent], 10 * args.seconds)
        new = totals(answers)[0]
        recorded = new
        print(f"in-process new alerts: {new} in {spent:.1f}s = {new / spent:.1f} alerts/s; "
              f"HTTP reaches {http_new_rate / (new / spent):.2f} of it")
        done, answers, spent = in_process(services, fresh[:rsent], 10 * args.seconds)
        seen = totals(answers)[2]
        print(f"in-process resends: {seen} in {spent:.1f}s = {seen / spent:.1f} alerts/s; "
              f"HTTP reaches {http_seen_rate / (seen / spent):.2f} of it")
        incidents = sum(len(services.app.get_ticket(f"CHG-{n}").breaches)
                        for n in range(1, args.tickets + 1))
        if incidents != recorded or recorded != http_recorded:
            raise SystemExit(f"{incidents} breaches in the store, {recorded} alerts were new "
                             f"in-process, {http_recorded} over HTTP")
        print(f"breaches in the store: {incidents} (every new alert once, no resend twice)")
    finally:
        services.close()


if __name__ == "__main__":
    main()
