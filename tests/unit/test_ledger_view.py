"""The ledger as a tracked consumer: the stored tree is the pure core's tree,
proofs read O(log n) rows, seals are reproducible, and tampering is located.

The log here is a stand-in recorder of synthetic events with gaps in their
positions, so thousands of leaves (subtree nodes of 2**8 and more, tree heads
every 1024) are cheap; the same on the real stores, tampered with in SQL, is
in tests/integration/test_ledger_cli.py.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opsledger.adapters.signing_keys import Ed25519Signer, Ed25519Verifier
from opsledger.domain.checkpoint import open_checkpoint
from opsledger.domain.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_bytes,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from opsledger.domain.persistence import CanonicalJSONTranscoder
from opsledger.projections.facts import EventLog
from opsledger.projections.ledger import (
    HEAD_INTERVAL,
    NODES,
    LedgerBehind,
    LedgerInputError,
    node_id,
)
from opsledger.projections.ledger_audit import audit
from opsledger.projections.ledger_log import Ledger
from opsledger.projections.sqlite import SQLiteViewStore

TOPICS = ("opsledger.ticket.Opened", "opsledger.ticket.EvidenceAttached", "opsledger.flag.Changed")


@dataclass(frozen=True)
class Note:
    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


class Recorder:
    """Notifications in position order, with the recorder calls the ledger makes."""

    def __init__(self) -> None:
        self.notes: list[Note] = []
        self._versions: dict[Any, int] = {}

    def add(self, count: int, *, gap_every: int = 7) -> None:
        for _ in range(count):
            last = self.notes[-1].id if self.notes else 0
            position = last + (2 if (last + 1) % gap_every == 0 else 1)
            originator = uuid.UUID(int=position % 5 + 1)
            version = self._versions[originator] = self._versions.get(originator, 0) + 1
            state = b'{"n":%d,"timestamp":"2026-11-23T09:00:00+00:00"}' % position
            self.notes.append(Note(position, originator, version, TOPICS[position % 3], state))

    def select_notifications(self, start, limit, stop=None, topics=()):
        ids = [n.id for n in self.notes]
        at = bisect.bisect_left(ids, start)
        return [n for n in self.notes[at : at + limit] if stop is None or n.id <= stop]

    def max_notification_id(self):
        return self.notes[-1].id if self.notes else None

    def leaves(self) -> list[bytes]:
        return [
            leaf_hash(leaf_bytes(n.id, str(n.originator_id), n.originator_version, n.topic, n.state))
            for n in self.notes
        ]


class Codec:
    cipher = None
    compressor = None
    transcoder = CanonicalJSONTranscoder()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteViewStore(tmp_path / "views.sqlite")
    yield s
    s.close()


def ledger(recorder: Recorder, store: SQLiteViewStore, batch_size: int = 1000) -> Ledger:
    return Ledger(EventLog(recorder, Codec()), store, batch_size=batch_size)


def signer(name: str = "opsledger.test/ledger") -> Ed25519Signer:
    return Ed25519Signer(name, Ed25519PrivateKey.generate())


def verifier(s: Ed25519Signer) -> Ed25519Verifier:
    return Ed25519Verifier.from_verifier_key(s.verifier_key)


def test_the_stored_tree_is_the_pure_tree_however_it_was_batched(recorder, store, tmp_path):
    recorder.add(700)
    incremental = ledger(recorder, store, batch_size=97)
    assert incremental.catch_up() == 700
    recorder.add(1500)  # more events after a first catch-up, across 1024 and 2048
    incremental.catch_up()
    leaves = recorder.leaves()
    head = incremental.head()
    assert (head.size, head.root_hash) == (2200, root_hash(leaves))
    assert head.position == recorder.notes[-1].id

    # every perfect subtree of 256 leaves or more, and a head every 1024 leaves
    nodes = {(r[1], r[2]): bytes.fromhex(r[3]) for r in store.select(NODES)}
    expected = {
        (start, h): root_hash(leaves[start : start + (1 << h)])
        for h in range(8, 12)
        for start in range(0, 2200 - (1 << h) + 1, 1 << h)
    }
    assert nodes == expected
    assert all(r[0] == node_id(r[1], r[2]) for r in store.select(NODES))
    heads = incremental.store.select(incremental.projector.views[0].table("ledger_heads"))
    assert [(s, bytes.fromhex(r)) for s, r in heads] == [
        (n, root_hash(leaves[:n])) for n in range(HEAD_INTERVAL, 2201, HEAD_INTERVAL)
    ]

    fresh_store = SQLiteViewStore(tmp_path / "fresh.sqlite")
    fresh = ledger(recorder, fresh_store, batch_size=1000)
    fresh.catch_up()
    assert fresh.digest() == incremental.digest()
    incremental.projector.rebuild()
    assert incremental.digest() == fresh.digest()
    fresh_store.close()


def test_proofs_from_the_store_are_the_pure_proofs(recorder, store):
    recorder.add(1300)
    book = ledger(recorder, store)
    book.catch_up()
    leaves = recorder.leaves()
    for size in (1, 2, 255, 256, 257, 1024, 1025, 1300):
        root = root_hash(leaves[:size])
        assert book.root_at(size) == root
        for index in {0, size // 3, size - 1}:
            entry = book.inclusion(index, size)
            assert list(entry.path) == inclusion_proof(index, size, leaves)
            assert entry.position == recorder.notes[index].id
            assert verify_inclusion(leaves[index], index, size, list(entry.path), root)
        for first in {0, 1, size // 2, size}:
            root1, root2, path = book.consistency(first, size)
            assert list(path) == consistency_proof(first, size, leaves)
            assert verify_consistency(first, size, list(path), root1, root2)


def test_a_proof_reads_a_logarithmic_number_of_rows(recorder, store):
    recorder.add(5000)
    book = ledger(recorder, store)
    book.catch_up()
    root = book.root_at(4999)
    selects: list[tuple[str, int]] = []
    original = store.select

    def counting(table, where=(), *args, **kw):
        rows = original(table, where, *args, **kw)
        selects.append((table.name, len(rows)))
        return rows

    store.select = counting  # type: ignore[method-assign]
    entry = book.inclusion(4321, 4999)
    leaf_rows = sum(n for name, n in selects if name == "ledger_leaves")
    assert len(selects) <= 3 + 13 and leaf_rows <= 1 + 2 * 256, selects  # log2(5000) < 13
    assert verify_inclusion(recorder.leaves()[4321], 4321, 4999, list(entry.path), root)


def test_lookups_outside_the_ledger_are_typed(recorder, store):
    recorder.add(20)
    book = ledger(recorder, store)
    book.catch_up()
    with pytest.raises(LedgerInputError, match="no event at position 7"):
        book.leaf_index(7)  # a gap: positions 7, 14 are never used
    with pytest.raises(LedgerBehind, match="not in the ledger yet"):
        book.leaf_index(10_000)
    with pytest.raises(LedgerBehind, match="beyond the ledger's 20 events"):
        book.root_at(21)
    with pytest.raises(LedgerInputError, match="--from 5 is above --to 4"):
        book.consistency(5, 4)
    with pytest.raises(LedgerInputError, match="not below tree size"):
        book.inclusion(10, 10)


def test_checkpoints_are_signed_once_per_size_and_verify(recorder, store):
    recorder.add(300)
    book = ledger(recorder, store)
    book.catch_up()
    key = signer()
    first = book.sign(key, "checkpoint")
    assert book.sign(key, "checkpoint") == first  # same size: the stored note
    opened = open_checkpoint(first.note, [verifier(key)], origin=key.name)
    assert (opened.checkpoint.size, opened.checkpoint.root_hash) == (300, root_hash(recorder.leaves()))
    older = book.sign(key, "checkpoint", size=100)
    assert [c.size for c in book.checkpoints()] == [100, 300] and older.reason == "checkpoint"


def test_a_seal_proves_its_events_and_reruns_byte_for_byte(recorder, store):
    recorder.add(600)
    book = ledger(recorder, store)
    book.catch_up()
    key = signer()
    leaves = recorder.leaves()
    late = [n.id for n in recorder.notes[400:560:9]]  # a session ending at leaf ~551
    early = [n.id for n in recorder.notes[10:300:13]]  # one ending earlier, sealed later

    first = book.seal("CHG-1", late, key)
    assert first.previous is None and first.consistency == ()
    size = first.checkpoint.size
    assert size == book.leaf_index(late[-1]) + 1
    for entry in first.inclusions:
        assert verify_inclusion(leaves[entry.leaf_index], entry.leaf_index, size, list(entry.path),
                                first.checkpoint.root_hash)

    second = book.seal("CHG-2", early, key)
    assert second.previous == first.checkpoint
    small, large = second.checkpoint, first.checkpoint  # the seal before ends later: proved backwards
    assert small.size < large.size
    assert verify_consistency(small.size, large.size, list(second.consistency),
                              small.root_hash, large.root_hash)

    recorder.add(50)
    book.catch_up()
    book.seal("CHG-3", [recorder.notes[-1].id], key)
    assert book.seal("CHG-2", early, key) == second  # a rerun, after another seal, is identical
    third = book.seal("CHG-3", [recorder.notes[-1].id], key)
    assert third.previous == second.checkpoint
    assert verify_consistency(small.size, third.checkpoint.size, list(third.consistency),
                              small.root_hash, third.checkpoint.root_hash)


def tampered(recorder: Recorder, store) -> list[tuple[str, int | None]]:
    report = audit(ledger(recorder, store), verifiers=[])
    return [(f.kind, f.position) for f in report.findings]


def test_an_untouched_log_audits_clean(recorder, store):
    recorder.add(1100)
    book = ledger(recorder, store)
    book.catch_up()
    key = signer()
    book.sign(key, "checkpoint", size=1000)
    book.sign(key, "checkpoint")
    report = audit(book, [("published", book.checkpoint_at(1000).note.encode())], [verifier(key)])
    assert report.ok, report.findings
    assert report.checkpoints == 3 and report.log_events == 1100


def test_each_kind_of_tampering_is_named_with_its_position(recorder, store):
    recorder.add(60)
    book = ledger(recorder, store)
    book.catch_up()
    book.sign(signer(), "checkpoint")
    notes = recorder.notes
    altered, deleted = notes[5].id, notes[20].id
    a, b = notes[30], notes[31]
    notes[5] = replace(notes[5], state=notes[5].state.replace(b'"n"', b'"N"'))
    notes[30], notes[31] = replace(b, id=a.id), replace(a, id=b.id)  # swapped in place
    del notes[20]
    inserted = 14  # a position the log skipped
    notes.insert(12, Note(inserted, uuid.UUID(int=99), 1, TOPICS[0], b"{}"))
    notes.sort(key=lambda n: n.id)
    gone = [n.id for n in notes[-3:]]
    del notes[-3:]
    found = tampered(recorder, store)
    assert found[:-1] == [
        ("altered", altered),
        ("inserted", inserted),
        ("deleted", deleted),
        ("reordered", a.id),
        ("reordered", b.id),
        *(("truncated", p) for p in gone),
    ]
    assert found[-1] == ("truncated", None)  # the signed 60 events are now 57


def test_a_log_truncated_below_a_checkpoint_is_shorter_than_it(recorder, store):
    recorder.add(40)
    book = ledger(recorder, store)
    book.catch_up()
    book.sign(signer(), "checkpoint")
    del recorder.notes[-5:]
    found = tampered(recorder, store)
    assert found[-1] == ("truncated", None)
    assert [k for k, _ in found[:-1]] == ["truncated"] * 5


def test_rewriting_an_event_and_its_leaf_row_still_shows(recorder, store):
    recorder.add(300)
    book = ledger(recorder, store)
    book.catch_up()
    book.sign(signer(), "checkpoint")
    notes = recorder.notes
    notes[3] = replace(notes[3], state=b'{"forged":true}')
    forged = recorder.leaves()[3].hex()
    store.conn.execute("UPDATE ledger_leaves SET leaf_hash = ? WHERE leaf_index = 3", (forged,))
    found = audit(book, verifiers=[]).findings
    kinds = [f.kind for f in found]
    assert "altered" not in kinds  # the leaf row agrees with the forged event now...
    assert "checkpoint" in kinds and "ledger-store" in kinds  # ...the signed root and the frontier do not


def test_a_wrong_key_makes_every_checkpoint_a_finding(recorder, store):
    recorder.add(10)
    book = ledger(recorder, store)
    book.catch_up()
    book.sign(signer(), "checkpoint")
    other = signer()
    found = audit(book, [], [verifier(other)]).findings
    assert [f.kind for f in found] == ["signature"]
    assert "no signature by a trusted key" in found[0].detail
