"""Appended events per second through the application, on SQLite and PostgreSQL.

Three figures per store, measured in the same run:
  batched   - realistic ticket events built by the aggregates' rules, mapped to
              canonical JSON and saved ~1000 events per transaction;
  floor     - the same stored events inserted straight into the recorder
              (no rules, no mapping): the store's own ceiling;
  per-call  - one application command per transaction, as the CLI does.
It prints events/s and the ratio batched/floor.

    .venv/bin/python bench/append_bench.py [--events 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsledger.domain.application import OpsLedger
from opsledger.domain.runbook import CHECKS, Command, Env, Role, Severity
from opsledger.domain.ticket import Ticket

DIGEST = "sha256:" + "ab" * 32
SHA = "cd" * 32
T0 = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)


def session(key: str) -> Ticket:
    """One realistic session: ~20 events through the aggregate's own rules."""
    t = Ticket.open(key=key, strategy="momo-1", env=Env.PROD, artifact_digest=DIGEST,
                    actor="alice.rm", role=Role.RELEASE_MANAGER, session_date=T0.date())
    people = {Role.RELEASE_MANAGER: "alice.rm", Role.RISK_OFFICER: "bob.risk"}
    for check in CHECKS:
        for role in check.owners:
            t.attach_evidence(check=check.name, path=f"evidence/{check.name}.md", sha256=SHA,
                              size=1234, actor=people.get(role, role.value), role=role)
    for command in (Command.DEPLOY, Command.VALIDATE, Command.SETTLE):
        run_id, _, _ = t.start_command(command=command, argv=["tradepulse-cli", command.value],
                                       log_path=f"{command.log_name}.log", started_at=T0,
                                       actor="dana.ops", role=Role.OPERATOR)
        t.finish_command(run_id=run_id, outcome="exited", exit_code=0,
                         finished_at=T0 + timedelta(seconds=5), log_sha256=SHA, log_bytes=4096,
                         actor="dana.ops", role=Role.OPERATOR)
    t.record_breach(breach={
        "breach_id": uuid.uuid4().hex, "rule": "latency", "metric": "metrics.execution.latency",
        "labels": {"strategy": "momo-1"}, "threshold": 120.0, "unit": "ms",
        "comparison": "p95 < 120 ms", "observed": 150.0, "window_start": T0, "window_end": T0,
        "samples": 8, "severity": Severity.CRITICAL, "escalation": "Execution Trader",
        "source": "prometheus", "detail": "", "incident_ref": "INC-1"}, actor="dana.ops",
        role=None)
    return t


def run(label: str, make_env, events: int) -> None:
    per_session = len(session("CHG-1").pending_events)
    sessions = max(1, events // per_session)
    batch = max(1, 1000 // per_session)

    app = OpsLedger(env=make_env())
    tickets = [session(f"CHG-{n + 1}") for n in range(sessions)]
    total = sum(len(t.pending_events) for t in tickets)
    start = time.perf_counter()
    for i in range(0, sessions, batch):
        app.save(*tickets[i:i + batch])
    batched = total / (time.perf_counter() - start)
    app.close()

    floor_app = OpsLedger(env=make_env())
    stored = []
    for n in range(sessions):
        t = session(f"CHG-{n + 1}")
        stored.append([floor_app.mapper.to_stored_event(e) for e in t.collect_events()])
    start = time.perf_counter()
    for i in range(0, sessions, batch):
        floor_app.recorder.insert_events([e for group in stored[i:i + batch] for e in group])
    floor = total / (time.perf_counter() - start)
    floor_app.close()

    call_app = OpsLedger(env=make_env())
    call_app.open_ticket(key="CHG-1", strategy="m", env=Env.PROD, artifact_digest=DIGEST,
                         actor="a", role=None)
    calls = 300
    start = time.perf_counter()
    for n in range(calls):
        call_app.record_breach("CHG-1", breach={
            "breach_id": f"b{n}", "rule": "r", "metric": "m", "labels": {}, "threshold": 1.0,
            "unit": "", "comparison": "", "observed": 2.0, "window_start": T0,
            "window_end": None, "samples": 1, "severity": Severity.WARNING, "escalation": "e",
            "source": "bench", "detail": "", "incident_ref": ""}, actor="a", role=None)
    per_call = calls / (time.perf_counter() - start)
    call_app.close()

    print(f"{label:10s} batched {batched:9,.0f} ev/s  floor {floor:9,.0f} ev/s  "
          f"ratio {batched / floor:4.2f}  per-call {per_call:7,.0f} cmd/s  ({total:,} events)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def sqlite_env() -> dict[str, str]:
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(Path(tmp) / f"bench{next(counter)}.sqlite")}

        run("sqlite", sqlite_env, args.events)
    if not args.no_postgres:
        import psycopg

        schemas: list[str] = []

        def pg_env() -> dict[str, str]:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=test",
                                 autocommit=True) as conn:
                conn.execute(f"create schema {schema}")
            schemas.append(schema)
            return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
                    "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432",
                    "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
                    "POSTGRES_SCHEMA": schema}

        try:
            run("postgres", pg_env, args.events)
        finally:
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=test",
                                 autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f"drop schema {schema} cascade")


if __name__ == "__main__":
    main()
