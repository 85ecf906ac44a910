"""Projections benchmark: rebuild rate vs the raw read+decode rate, and query latency.

    .venv/bin/python bench/projections_bench.py [--store sqlite|postgres|both]
        [--events 200000] [--query-events 1000000] [--batch 1000]

1. Generates realistic sessions (interleaved, as concurrent sessions are) into a
   fresh event store, ~1000 events per save.
2. Measures the raw rate of `select_notifications` + `mapper.to_domain_event`
   over the whole log, then the rate of rebuilding all four views, twice each
   in alternation; prints events/s and the ratio of the best runs.
3. Over a log of --query-events events, prints p50/p95/p99 of an incidents query
   filtered by metric and a time range (1 to 7 days within the quarter).
Targets on a 2-core machine: >= 50,000 events/s, ratio >= 0.5, p95 < 20 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opsledger.domain.application import OpsLedger  # noqa: E402
from opsledger.domain.flag import FeatureFlag  # noqa: E402
from opsledger.domain.runbook import APPROVERS, CHECKS, LIVE_FLAG, Command, Env, Role, Severity  # noqa: E402
from opsledger.domain.ticket import Ticket  # noqa: E402
from opsledger.projections import EventLog, IncidentQuery, Projector, ViewReader  # noqa: E402

PG = {"dbname": "test", "host": "127.0.0.1", "port": 5432, "user": "postgres", "password": ""}
QUARTER_START = datetime(2026, 7, 1, tzinfo=UTC)
QUARTER_DAYS = 92
METRICS = (
    ("heartbeat", "metrics.heartbeat", 60.0, "s", "no gaps > 1 minute", "SRE on-call"),
    ("latency", "metrics.execution.latency", 120.0, "ms", "p95 < 120 ms", "Execution Trader"),
    ("drift", "metrics.portfolio.drift", 0.5, "%", "< 0.5% notional", "Risk Officer"),
    ("risk-heartbeat", "metrics.risk.heartbeat", 3.0, "cycles", "no gaps > 3 cycles", "Kill-switch prep"),
)
STRATEGIES = [f"strat-{n:02d}" for n in range(24)]
OPERATORS = ["dana.ops", "eve.ops", "finn.ops", "gus.ops"]
HEX = "cd" * 32


def session(rng: random.Random, n: int, flags: dict[str, FeatureFlag]) -> Iterator[Ticket]:
    """One change ticket's life, yielding after each step so sessions can interleave."""
    key = f"CHG-{n}"
    strategy = rng.choice(STRATEGIES)
    day = QUARTER_START + timedelta(days=rng.randrange(QUARTER_DAYS))
    operator = rng.choice(OPERATORS)
    t = Ticket.open(key=key, strategy=strategy, env=Env.PROD, artifact_digest="sha256:" + "ab" * 32,
                    actor="alice.rm", role=Role.RELEASE_MANAGER, session_date=day.date())
    yield t
    skip = rng.choice(CHECKS).name if rng.random() < 0.15 else None  # incomplete: downgrade
    for check in CHECKS:
        if check.name == skip:
            continue
        for i, role in enumerate(check.owners):
            t.attach_evidence(check=check.name, path=f"reports/{key}/{check.name}.md", sha256=HEX,
                              size=rng.randrange(100, 90_000), actor=f"{role.value}.{i}", role=role)
            yield t
    if rng.random() < 0.1:
        ev = next(iter(t.evidence))
        t.supersede_evidence(evidence_id=ev, reason="wrong file attached", actor="alice.rm",
                             role=Role.RELEASE_MANAGER)
        yield t
    for approval, role in APPROVERS.items():
        t.approve(approval=approval, reference=f"{approval.value}/{n}", actor=f"{role.value}.0", role=role)
        yield t
    t.evaluate_gate(actor="alice.rm", role=Role.RELEASE_MANAGER)
    yield t
    halt = Command.KILL if rng.random() < 0.1 else Command.SETTLE
    for command in (Command.DEPLOY, Command.VALIDATE, halt):
        started = day + timedelta(hours=8)
        run, env, _ = t.start_command(command=command, argv=["tradepulse-cli", command.value],
                                      log_path=f"reports/live/{day.date()}/{command.log_name}.log",
                                      started_at=started, actor=operator, role=Role.OPERATOR,
                                      reason="latency runaway" if command is Command.KILL else "")
        yield t
        code = 0 if rng.random() < 0.95 else 1
        t.finish_command(run_id=run, outcome="exited", exit_code=code,
                         finished_at=started + timedelta(minutes=rng.randrange(1, 30)),
                         log_sha256=HEX, log_bytes=rng.randrange(1000, 10**6),
                         actor=operator, role=Role.OPERATOR)
        yield t
        if command.intended_live is not None:
            live = command.intended_live and env is Env.PROD
            flags[LIVE_FLAG].set(value=str(live), actor=operator, role=Role.OPERATOR,
                                 reason=f"{command.value} {key}", ticket=key)
            observed = live if rng.random() < 0.97 else not live
            t.observe_flag(run_id=run, observed=observed, actor=operator, role=Role.OPERATOR)
            yield t
        if command is Command.DEPLOY:
            for b in range(rng.choice((0, 0, 1, 1, 2, 3, 5))):
                rule, metric, threshold, unit, comparison, escalation = rng.choice(METRICS)
                start = day + timedelta(hours=9, minutes=rng.randrange(0, 420))
                end = start + timedelta(seconds=rng.randrange(30, 1800)) if rng.random() < 0.8 else None
                t.record_breach(breach={
                    "breach_id": hashlib.sha256(f"{key}/{b}".encode()).hexdigest(),
                    "rule": rule, "metric": metric, "labels": {"strategy": strategy},
                    "threshold": threshold, "unit": unit, "comparison": comparison,
                    "observed": round(threshold * rng.uniform(1.05, 3.0), 3),
                    "window_start": start, "window_end": end, "samples": rng.randrange(1, 40),
                    "severity": rng.choice(list(Severity)), "escalation": escalation,
                    "source": "prometheus", "detail": f"{rule} breached", "incident_ref": f"INC-{n}-{b}",
                }, actor=operator, role=Role.OPERATOR)
                yield t
    if rng.random() < 0.2:
        flags["risk.throttle"].set(value=rng.choice(["on", "off"]), actor=operator, role=Role.OPERATOR,
                                   reason="throttle after breach", ticket=key)
    digest = hashlib.sha256(key.encode()).hexdigest()
    t.record_seal(location=f"s3://archive/{key}.tar.zst", archive_sha256=digest, archive_bytes=10**7,
                  manifest_sha256=HEX, location_hash=HEX, file_count=14, missing=[],
                  actor=operator, role=Role.OPERATOR)
    yield t
    t.record_verification(location=f"s3://archive/{key}.tar.zst", archive_sha256=digest, ok=True,
                          failures=[], actor=operator, role=Role.OPERATOR)
    yield t
    t.close(actor="alice.rm", role=Role.RELEASE_MANAGER)
    yield t


def generate(app: OpsLedger, total: int, *, seed: int = 7, concurrent: int = 150) -> int:
    """Writes about `total` events; ~`concurrent` sessions advance together, ~1000 events a save."""
    rng = random.Random(seed)
    flags = {name: FeatureFlag.create(name) for name in (LIVE_FLAG, "risk.throttle")}
    active: list[Iterator[Ticket]] = []
    started = 0
    written = 0
    while written < total:
        while len(active) < concurrent:
            started += 1
            active.append(session(rng, started, flags))
        touched: dict[int, Ticket] = {}
        for gen in list(active):
            for _ in range(rng.randrange(3, 10)):
                try:
                    t = next(gen)
                    touched[id(t)] = t
                except StopIteration:
                    active.remove(gen)
                    break
        aggregates = [*touched.values(), *flags.values()]
        written += sum(len(a.pending_events) for a in aggregates)
        app.save(*aggregates)
    return app.head()


def raw_rate(app: OpsLedger) -> float:
    """Reading and decoding every notification, nothing else: the reference rate."""
    started = time.perf_counter()
    n, start = 0, 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=1000)
        for notification in page:
            app.mapper.to_domain_event(notification)
        n += len(page)
        if len(page) < 1000:
            break
        start = page[-1].id + 1
    return n / (time.perf_counter() - started)


class Store:
    """A fresh event store and view store of one kind, removed afterwards."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.schema = f"bench_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            folder = Path(tempfile.mkdtemp(dir=tmp))
            self.env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": str(folder / "events.sqlite"), "SQLITE_LOCK_TIMEOUT": "30"}
            self.views_path = folder / "views.sqlite"
        else:
            import psycopg

            with psycopg.connect(autocommit=True, **PG) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            self.env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
                        "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432",
                        "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
                        "POSTGRES_SCHEMA": self.schema}
        self.app = OpsLedger(env=self.env)

    def view_store(self):
        if self.kind == "sqlite":
            from opsledger.projections.sqlite import SQLiteViewStore

            return SQLiteViewStore(self.views_path)
        from opsledger.projections.postgres import PostgresViewStore

        return PostgresViewStore(schema=self.schema, **PG)

    def drop(self) -> None:
        self.app.close()
        if self.kind == "postgres":
            import psycopg

            try:
                with psycopg.connect(autocommit=True, **PG) as conn:
                    conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
            except psycopg.Error as e:
                print(f"[{self.kind}] could not drop schema {self.schema}: {e}", file=sys.stderr)


def bench_rebuild(kind: str, events: int, batch: int, tmp: Path) -> None:
    store = Store(kind, tmp)
    try:
        t0 = time.perf_counter()
        head = generate(store.app, events)
        print(f"[{kind}] generated {head:,} events at {head / (time.perf_counter() - t0):,.0f}/s")
        views = store.view_store()
        projector = Projector(EventLog(store.app.recorder, store.app.mapper), views, batch_size=batch)
        raws, rebuilds, cpu = [], [], []
        for _ in range(2):
            raws.append(raw_rate(store.app))
            t0, c0 = time.perf_counter(), time.process_time()
            n = projector.rebuild()
            rebuilds.append(n / (time.perf_counter() - t0))
            cpu.append(n / (time.process_time() - c0))
        digests = {d.name: (d.rows, d.sha256[:16]) for d in projector.digest()}
        views.close()
        raw, rebuild = max(raws), max(rebuilds)
        print(f"[{kind}] raw select_notifications+mapper: " + ", ".join(f"{r:,.0f}/s" for r in raws))
        print(f"[{kind}] rebuild all views (batch {batch}): " + ", ".join(f"{r:,.0f}/s" for r in rebuilds)
              + " (per second of this process's CPU: " + ", ".join(f"{r:,.0f}" for r in cpu)
              + "; the other cores' load and the database server are not in it)")
        print(f"[{kind}] RESULT rebuild {rebuild:,.0f} events/s, ratio to raw {rebuild / raw:.2f} "
              f"(targets >= 50,000/s, >= 0.5)")
        print(f"[{kind}] rows per view: {digests}")
    finally:
        store.drop()


def bench_query(kind: str, events: int, batch: int, tmp: Path, samples: int = 500) -> None:
    store = Store(kind, tmp)
    try:
        t0 = time.perf_counter()
        head = generate(store.app, events, seed=11)
        print(f"[{kind}] generated {head:,} events at {head / (time.perf_counter() - t0):,.0f}/s")
        views = store.view_store()
        log = EventLog(store.app.recorder, store.app.mapper)
        projector = Projector(log, views, batch_size=batch)
        t0 = time.perf_counter()
        projector.rebuild()
        print(f"[{kind}] rebuilt in {time.perf_counter() - t0:.1f} s")
        reader = ViewReader(views, log)
        total = len(reader.incidents(IncidentQuery()))
        rng = random.Random(3)
        latencies, sizes = [], []
        for _ in range(samples):
            since = QUARTER_START + timedelta(days=rng.randrange(QUARTER_DAYS - 7),
                                              hours=rng.randrange(24))
            query = IncidentQuery(metric=rng.choice(METRICS)[1], since=since,
                                  until=since + timedelta(days=rng.randrange(1, 8)))
            t0 = time.perf_counter()
            rows = reader.incidents(query)
            latencies.append((time.perf_counter() - t0) * 1000)
            sizes.append(len(rows))
        latencies.sort()
        p = statistics.quantiles(latencies, n=100)
        print(f"[{kind}] incidents: {total:,} breaches; query by metric + 1-7 day range returned "
              f"{statistics.mean(sizes):.0f} rows on average")
        print(f"[{kind}] RESULT incidents query p50 {p[49]:.2f} ms, p95 {p[94]:.2f} ms, "
              f"p99 {p[98]:.2f} ms over {samples} queries (target p95 < 20 ms)")
        views.close()
    finally:
        store.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--query-events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--skip-query", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            if not args.skip_rebuild:
                bench_rebuild(kind, args.events, args.batch, Path(tmp))
            if not args.skip_query:
                bench_query(kind, args.query_events, args.batch, Path(tmp))


if __name__ == "__main__":
    main()
