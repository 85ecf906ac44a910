"""What the ledger costs per event as a tracked consumer, against the pure frontier.

The reference, measured in the same run, is the pure core's incremental cost:
`leaf_bytes` + `leaf_hash` + `MerkleFrontier.append` per event, in memory.
Against it:

- catch-up of the ledger view through the runner into a view store (SQLite
  file, and PostgreSQL when reachable): reading the log page, decoding it (the
  runner decodes for every view), hashing, and one appended leaf row per event
  plus the frontier row, committed with the tracking position per batch;
- one inclusion proof from the store at the final size (O(log n) rows), against
  the same proof from an in-memory list of leaf hashes with a fresh hasher;
- `ledger verify`'s audit (log re-hashed and joined with the stored leaves).

The log is an in-memory stand-in recorder, so the figures are the ledger's own
cost, not the event store's read.

Run: ``.venv/bin/python bench/ledger_bench.py [--events N] [--postgres]``
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsledger.domain.merkle import (
    MerkleFrontier,
    SubtreeHasher,
    inclusion_proof,
    leaf_bytes,
    leaf_hash,
)
from opsledger.domain.persistence import CanonicalJSONTranscoder
from opsledger.projections.facts import EventLog
from opsledger.projections.ledger_audit import audit
from opsledger.projections.ledger_log import Ledger
from opsledger.projections.sqlite import SQLiteViewStore


@dataclass(frozen=True)
class Note:
    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


class Recorder:
    """The first `visible` notes of a synthetic log, so the log can grow under the ledger."""

    def __init__(self, notes: list[Note]) -> None:
        self.notes = notes
        self.ids = [n.id for n in notes]
        self.visible = len(notes)

    def select_notifications(self, start, limit, stop=None, topics=()):
        at = bisect.bisect_left(self.ids, start)
        return self.notes[at : min(at + limit, self.visible)]

    def max_notification_id(self):
        return self.ids[self.visible - 1] if self.visible else None


class Codec:
    cipher = None
    compressor = None
    transcoder = CanonicalJSONTranscoder()


def synthetic_log(count: int) -> list[Note]:
    """Events shaped like the stored ones: ~200 bytes of canonical JSON, 2,000 aggregates."""
    rng = random.Random(7)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(2_000)]
    versions: dict[Any, int] = {}
    topics = ("opsledger.ticket.EvidenceAttached", "opsledger.flag.Changed", "opsledger.shift.StepLogged")
    notes = []
    for position in range(1, count + 1):
        oid = ids[position % len(ids)]
        version = versions[oid] = versions.get(oid, 0) + 1
        state = json.dumps(
            {
                "actor": "dana.ops",
                "path": f"reports/live/2026-11-24/deploy-{position}.log",
                "sha256": f"{position:064x}",
                "timestamp": "2026-11-24T13:30:00.000000+00:00",
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        notes.append(Note(position, oid, version, topics[position % 3], state))
    return notes


def timed(work: Callable[[], object]) -> float:
    gc.collect()
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def pure_frontier(notes: list[Note]) -> MerkleFrontier:
    frontier = MerkleFrontier()
    for n in notes:
        frontier.append(
            leaf_hash(leaf_bytes(n.id, str(n.originator_id), n.originator_version, n.topic, n.state))
        )
    return frontier


def store_run(name: str, ledger: Ledger, notes: list[Note], reference: float, pure: MerkleFrontier) -> None:
    n = len(notes)
    recorder = ledger.log.recorder
    recorder.visible = n * 9 // 10
    took = timed(ledger.catch_up)
    print(f"{name:>10} catch-up     {1e6 * took / recorder.visible:8.2f} us/event   "
          f"{took / recorder.visible / (reference / n):6.1f}x pure frontier (first 90%, from empty)")
    tail = n - recorder.visible
    recorder.visible = n
    took = timed(ledger.catch_up)
    print(f"{name:>10} incremental  {1e6 * took / tail:8.2f} us/event   "
          f"{took / tail / (reference / n):6.1f}x pure frontier (last 10%, onto {n - tail:,} leaves)")
    head = ledger.head()
    assert (head.size, head.root_hash) == (pure.size, pure.root()), "stored tree differs"
    hashes = [
        leaf_hash(leaf_bytes(x.id, str(x.originator_id), x.originator_version, x.topic, x.state))
        for x in notes
    ]
    index = n * 2 // 3
    took = timed(lambda: ledger.inclusion(index, n))
    memory = timed(lambda: inclusion_proof(index, n, SubtreeHasher.over(hashes)))
    print(f"{name:>10} proof        {1e3 * took:8.2f} ms        (cold in-memory hasher: {1e3 * memory:.1f} ms, "
          f"{memory / took:.0f}x slower)")
    report_took = timed(lambda: audit(ledger))
    print(f"{name:>10} audit        {1e6 * report_took / n:8.2f} us/event   {report_took / reference:6.1f}x pure frontier")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL at 127.0.0.1:5432/test")
    args = parser.parse_args()
    notes = synthetic_log(args.events)
    print(f"{len(notes):,} events")
    reference = min(timed(lambda: pure_frontier(notes)) for _ in range(3))
    pure = pure_frontier(notes)
    print(f"{'pure':>10} frontier     {1e6 * reference / len(notes):8.2f} us/event   1.0x (reference)")
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteViewStore(Path(folder) / "views.sqlite")
        store_run("sqlite", Ledger(EventLog(Recorder(notes), Codec()), store), notes, reference, pure)
        store.close()
    if args.postgres:
        import psycopg
        from opsledger.projections.postgres import PostgresViewStore

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        store = PostgresViewStore(dbname="test", schema=schema)
        try:
            log = EventLog(Recorder(notes), Codec())
            store_run("postgres", Ledger(log, store), notes, reference, pure)
        finally:
            store.close()
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
                c.execute(f'drop schema if exists "{schema}" cascade')


if __name__ == "__main__":
    main()
