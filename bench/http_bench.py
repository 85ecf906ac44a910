"""HTTP API read latency against the same service call in-process.

    .venv/bin/python bench/http_bench.py [--events 1000000] [--build-seconds 180]
        [--samples 300]

1. Builds a store of realistic interleaved sessions (bench/projections_bench.py's
   generator, ~1000 events a save) up to --events or until --build-seconds
   have passed, whichever comes first, and prints how many it holds; catches
   the views up once.
2. Staffs the desk and issues a read token through the real CLI, starts
   `opsledger serve` on a free 127.0.0.1 port.
3. For the ticket page (`GET /api/v1/tickets/{key}`) and an incidents query
   (metric and a 1-7 day window), prints p50/p95 over HTTP (keep-alive client)
   and of the same service function called in-process, and the p95 ratio.
Sustained webhook intake is bench/intake_bench.py's.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402
from opsledger.domain.application import OpsLedger  # noqa: E402
from opsledger.services.bootstrap import Services  # noqa: E402
from opsledger.services.incidents import list_incidents  # noqa: E402
from opsledger.services.queries import ticket_document  # noqa: E402
from opsledger.services.settings import Settings  # noqa: E402
from opsledger.services.views import catch_up_views  # noqa: E402
from projections_bench import QUARTER_DAYS, QUARTER_START, generate  # noqa: E402

EXE = Path(sys.executable).with_name("opsledger")


def key(folder: Path, person: str) -> Path:
    private = ed25519.Ed25519PrivateKey.generate()
    path = folder / person
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    path.chmod(0o600)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
    path.with_name(person + ".pub").write_bytes(public + b"\n")
    return path


def cli(env: dict[str, str], identity: Path, *argv: str) -> str:
    done = subprocess.run([str(EXE), "--identity", str(identity), *argv], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout.strip()


class _Enough(Exception):
    pass


def build(home: Path, events: int, seconds: float) -> int:
    """One generator run of `events`, cut short (after a whole save) once `seconds` pass."""
    home.mkdir(parents=True, exist_ok=True)
    app = OpsLedger(env=Settings.from_env({}, home=home).event_store_env())
    deadline = time.monotonic() + seconds
    save = app.save

    def bounded(*aggregates, **kwargs):
        done = save(*aggregates, **kwargs)
        if time.monotonic() > deadline:
            raise _Enough
        return done

    app.save = bounded
    try:
        generate(app, events)
    except _Enough:
        pass
    written = app.head()
    app.close()
    return written


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--build-seconds", type=float, default=180.0)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsledger-http-bench-"))
    home = tmp / "home"
    began = time.monotonic()
    events = build(home, args.events, args.build_seconds)
    print(f"store: {events} events built in {time.monotonic() - began:.0f}s")

    keys = tmp / "keys"
    keys.mkdir()
    root, second, reader = (key(keys, p) for p in ("root.admin", "second.admin", "bob.reader"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    env["OPSLEDGER_HOME"] = str(home)
    cli(env, root, "roster", "init", "--admin", "root.admin", "--second-admin", "second.admin",
        "--second-key", f"{second}.pub")
    cli(env, root, "roster", "key", "add", "bob.reader", f"{reader}.pub", "--reason", "bench")
    cli(env, root, "roster", "grant", "bob.reader", "auditor", "--reason", "bench")
    token = cli(env, root, "roster", "token", "issue", "bob.reader", "--scope", "read")

    services = Services(Settings.from_env({}, home=home))
    began = time.monotonic()
    catch_up_views(services, None)
    print(f"views caught up in {time.monotonic() - began:.0f}s")
    # Two processes on one SQLite view store: the server's reads would wait on this
    # process's connections, so it lets go of them while the server is measured.
    services.close()
    services = Services(Settings.from_env({}, home=home))
    rng = random.Random(11)
    tickets = [f"CHG-{rng.randrange(1, 200)}" for _ in range(args.samples)]
    windows = []
    for _ in range(args.samples):
        start = QUARTER_START + timedelta(days=rng.randrange(QUARTER_DAYS - 7))
        windows.append((start, start + timedelta(days=rng.randrange(1, 8))))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The request log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = (tmp / "serve.log").open("w")
    server = subprocess.Popen([str(EXE), "serve", "--port", str(port)], env=env, stderr=log)
    try:
        while "serving" not in (tmp / "serve.log").read_text():
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        http.get("/api/v1/tickets/CHG-1").raise_for_status()

        def timed(calls) -> list[float]:
            out = []
            for call in calls:
                t = time.perf_counter()
                call()
                out.append((time.perf_counter() - t) * 1000)
            return out

        def check(r: httpx.Response) -> None:
            if r.status_code != 200:
                raise SystemExit(f"{r.request.url}: {r.status_code} {r.text}")

        cases = {
            "ticket page": (
                [lambda k=k: check(http.get(f"/api/v1/tickets/{k}")) for k in tickets],
                [lambda k=k: ticket_document(services, k, with_flag=True) for k in tickets]),
            "incidents query": (
                [lambda a=a, b=b: check(http.get("/api/v1/incidents", params={
                    "metric": "metrics.execution.latency", "since": a.isoformat(),
                    "until": b.isoformat()})) for a, b in windows],
                [lambda a=a, b=b: list_incidents(services, metric="metrics.execution.latency",
                                                 since=a, until=b) for a, b in windows]),
        }
        measured = {name: timed(over_http) for name, (over_http, _) in cases.items()}
        server.terminate()
        server.wait(timeout=30)
        for name, (_, in_process) in cases.items():
            h, p = measured[name], timed(in_process)
            print(f"{name}: HTTP p50 {percentile(h, 50):.2f} ms p95 {percentile(h, 95):.2f} ms; "
                  f"in-process p50 {percentile(p, 50):.2f} ms p95 {percentile(p, 95):.2f} ms; "
                  f"p95 ratio {percentile(h, 95) / percentile(p, 95):.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        services.close()


if __name__ == "__main__":
    main()
