"""The ledger as a service: catch-up, tree heads, proofs, signed checkpoints, seals.

`Ledger` drives `LedgerView` with the same `Projector` as the read models
(same store, its own tracking row), and answers proofs from the stored leaf
hashes and subtree nodes: a proof reads O(log n) node rows and at most two
blocks of 256 leaf hashes, whatever the size of the log.

Checkpoints are signed here through the domain's `Signer` port and kept in
the view store beside the tree. A seal's tree size is fixed by the ticket's
own events (its last leaf + 1), and the seal it follows is recorded the first
time, so a rerun of the same seal yields the same checkpoint and proofs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from opsledger.domain.checkpoint import Checkpoint, CheckpointError, Signer, sign_checkpoint
from opsledger.domain.merkle import (
    EMPTY_ROOT,
    MerkleError,
    MerkleFrontier,
    SubtreeHasher,
    consistency_proof,
    inclusion_proof,
)
from opsledger.projections.facts import EventLog
from opsledger.projections.ledger import (
    CHECKPOINTS,
    FRONTIER,
    LEAVES,
    NAME,
    NODE_HEIGHT,
    NODES,
    SEALS,
    LedgerBehind,
    LedgerInputError,
    LedgerStateError,
    LedgerView,
    node_id,
    stored_bytes,
)
from opsledger.projections.runner import DEFAULT_BATCH, Progress, Projector, ViewStatus
from opsledger.projections.store import ViewStore


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: bytes
    position: int  # the log position the tree has absorbed


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: str  # the signed note, as signed
    reason: str


@dataclass(frozen=True)
class StoredEvent:
    """One event exactly as the log holds it: what a leaf is computed from."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class InclusionEntry:
    position: int
    leaf_index: int
    leaf_hash: bytes
    path: tuple[bytes, ...]


@dataclass(frozen=True)
class SealProofs:
    """What an archive carries: its checkpoint, one inclusion proof per event,
    and the consistency proof between it and the seal before it (smaller first)."""

    checkpoint: StoredCheckpoint
    inclusions: tuple[InclusionEntry, ...]
    previous: StoredCheckpoint | None
    consistency: tuple[bytes, ...]


class _StoredNodes(MutableMapping[tuple[int, int], bytes]):
    """`SubtreeHasher`'s cache, backed by the `ledger_nodes` rows the view wrote.

    Lookups beyond the tree read in this snapshot are never sent to the store;
    what the hasher computes itself is kept in memory only.
    """

    def __init__(self, store: ViewStore, size: int) -> None:
        self._store = store
        self._size = size
        self._memo: dict[tuple[int, int], bytes] = {}

    def get(self, key: tuple[int, int], default: Any = None) -> Any:
        found = self._memo.get(key)
        if found is not None:
            return found
        start, height = key
        if height < NODE_HEIGHT or start + (1 << height) > self._size:
            return default
        rows = self._store.select(NODES, [("node", "=", node_id(start, height))])
        if not rows:
            return default
        _, s, h, text = rows[0]
        if (s, h) != key:
            raise LedgerStateError(f"ledger node {node_id(start, height)} is not [{start}, +2**{height})")
        value = self._memo[key] = _hash(text, f"node [{start}, +2**{height})")
        return value

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: tuple[int, int], value: bytes) -> None:
        self._memo[key] = value

    def __delitem__(self, key: tuple[int, int]) -> None:
        del self._memo[key]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._memo)

    def __len__(self) -> int:
        return len(self._memo)


class Ledger:
    def __init__(
        self,
        log: EventLog,
        store: ViewStore,
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.log = log
        self.store = store
        self.projector = Projector(log, store, (LedgerView(),), batch_size=batch_size, progress=progress)
        self._installed = False

    # --- the tracked consumer ----------------------------------------------------------

    def install(self) -> None:
        if not self._installed:
            self.projector.install()
            self.store.install([CHECKPOINTS, SEALS], {NAME: LedgerView.version})
            self._installed = True

    def catch_up(self) -> int:
        """Absorbs every event up to the head of the log; returns how many were read."""
        self.install()
        return self.projector.refresh()

    def status(self) -> ViewStatus:
        self.install()
        (status,) = self.projector.status()
        return status

    def digest(self) -> str:
        self.install()
        (digest,) = self.projector.digest()
        return digest.sha256

    def head(self) -> TreeHead:
        """The tree as stored now (without catching up)."""
        self.install()
        with self.store.snapshot():
            return self._head()

    def _head(self) -> TreeHead:
        position = self.store.tracking()[NAME].position
        rows = self.store.select(FRONTIER)
        if not rows:
            return TreeHead(0, EMPTY_ROOT, position)
        try:
            frontier = FRONTIER.decode(rows[0])  # type: ignore[misc]
        except (MerkleError, ValueError, TypeError) as e:
            raise LedgerStateError(f"the stored ledger frontier is unreadable: {e}") from None
        return TreeHead(frontier.size, frontier.root(), position)

    # --- reading the stored tree ---------------------------------------------------------

    def _hasher(self, size: int) -> SubtreeHasher:
        def fetch(start: int, end: int) -> list[bytes]:
            rows = self.store.select(
                LEAVES, [("leaf_index", ">=", start), ("leaf_index", "<", end)]
            )
            if [r[0] for r in rows] != list(range(start, end)):
                raise LedgerStateError(f"ledger leaves [{start}, {end}) are not all stored")
            return [_hash(r[2], f"leaf {r[0]}") for r in rows]

        return SubtreeHasher(fetch, block_height=NODE_HEIGHT, cache=_StoredNodes(self.store, size))

    def _check_size(self, size: int, head: TreeHead, what: str) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise LedgerInputError(f"{what} must be a non-negative integer, got {size!r}")
        if size > head.size:
            raise LedgerBehind(f"{what} {size} is beyond the ledger's {head.size} events")

    def _root(self, size: int, head: TreeHead, hasher: SubtreeHasher) -> bytes:
        if size == head.size:
            return head.root_hash
        return MerkleFrontier.at_size(size, hasher).root()

    def root_at(self, size: int) -> bytes:
        self.install()
        with self.store.snapshot():
            head = self._head()
            self._check_size(size, head, "tree size")
            return self._root(size, head, self._hasher(head.size))

    def leaf_index(self, position: int) -> int:
        """The leaf of the event at `position`; LedgerInputError if there is none."""
        self.install()
        rows = self.store.select(LEAVES, [("position", "=", position)], order_by=("leaf_index",))
        if not rows:
            if position > self.status().position:
                raise LedgerBehind(f"position {position} is not in the ledger yet")
            raise LedgerInputError(f"no event at position {position} in the ledger")
        return rows[0][0]

    def leaf_at(self, index: int) -> tuple[int, bytes]:
        """(position, leaf hash) of leaf `index`."""
        rows = self.store.select(LEAVES, [("leaf_index", "=", index)])
        if not rows:
            raise LedgerInputError(f"no leaf {index} in the ledger")
        return rows[0][1], _hash(rows[0][2], f"leaf {index}")

    def event(self, position: int) -> StoredEvent:
        """The stored event at `position`, read from the log itself."""
        page = self.log.recorder.select_notifications(start=position, limit=1)
        if not page or page[0].id != position:
            raise LedgerInputError(f"no event at position {position} in the log")
        n = page[0]
        return StoredEvent(
            n.id, str(n.originator_id), n.originator_version, n.topic, stored_bytes(n.state)
        )

    def inclusion(self, index: int, size: int) -> InclusionEntry:
        (entry,) = self.inclusions([index], size)
        return entry

    def inclusions(self, indices: Sequence[int], size: int) -> tuple[InclusionEntry, ...]:
        """Audit paths of `indices` in the tree of `size` leaves, read in one snapshot."""
        self.install()
        with self.store.snapshot():
            head = self._head()
            self._check_size(size, head, "tree size")
            hasher = self._hasher(head.size)
            entries = []
            for index in indices:
                if not isinstance(index, int) or not 0 <= index < size:
                    raise LedgerInputError(f"leaf {index} is not below tree size {size}")
                position, leaf = self.leaf_at(index)
                path = inclusion_proof(index, size, hasher)
                entries.append(InclusionEntry(position, index, leaf, tuple(path)))
        return tuple(entries)

    def consistency(self, size1: int, size2: int) -> tuple[bytes, bytes, tuple[bytes, ...]]:
        """(root1, root2, proof) that the tree of size1 is a prefix of the tree of size2."""
        self.install()
        with self.store.snapshot():
            head = self._head()
            self._check_size(size1, head, "--from")
            self._check_size(size2, head, "--to")
            if size1 > size2:
                raise LedgerInputError(f"--from {size1} is above --to {size2}")
            hasher = self._hasher(head.size)
            root1 = self._root(size1, head, hasher)
            root2 = self._root(size2, head, hasher)
            proof = consistency_proof(size1, size2, hasher)
        return root1, root2, tuple(proof)

    # --- checkpoints -------------------------------------------------------------------------

    def checkpoints(self) -> list[StoredCheckpoint]:
        self.install()
        return [_stored(row) for row in self.store.select(CHECKPOINTS)]

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        self.install()
        rows = self.store.select(CHECKPOINTS, [("size", "=", size)])
        return _stored(rows[0]) if rows else None

    def sign(self, signer: Signer, reason: str, size: int | None = None) -> StoredCheckpoint:
        """Signs (and stores) the checkpoint of the tree of `size` leaves (default: all).

        A checkpoint already stored for that size is returned instead: Ed25519
        signatures are deterministic, so with the same key it is the same text.
        """
        self.install()
        with self.store.snapshot():
            head = self._head()
            size = head.size if size is None else size
            self._check_size(size, head, "tree size")
            root = self._root(size, head, self._hasher(head.size))
        with self.store.transaction() as writer:
            writer.lock([NAME])
            return self._keep_checkpoint(writer, signer, size, root, reason)

    def _keep_checkpoint(
        self, writer: Any, signer: Signer, size: int, root: bytes, reason: str
    ) -> StoredCheckpoint:
        existing = writer.load(CHECKPOINTS, CHECKPOINTS.name, [size])
        if existing:
            kept = _stored(existing[0])
            if kept.root_hash != root:
                raise LedgerStateError(
                    f"the stored checkpoint of size {size} has root {kept.root_hash.hex()}, "
                    f"the ledger now has {root.hex()}: run 'opsledger ledger verify'"
                )
            return kept
        try:
            note = sign_checkpoint(Checkpoint(signer.name, size, root), [signer])
        except CheckpointError as e:
            raise LedgerInputError(f"cannot sign the checkpoint: {e}") from None
        writer.insert(CHECKPOINTS, CHECKPOINTS.name, [(size, root.hex(), note, reason)])
        return StoredCheckpoint(size, root, note, reason)

    # --- seals ---------------------------------------------------------------------------------

    def seal(self, ticket: str, positions: Sequence[int], signer: Signer) -> SealProofs:
        """Checkpoint and proofs for an archive of the events at `positions`.

        The tree is the one ending at the ticket's last event; the seal it is
        proved consistent with is the one recorded before this ticket's first
        seal, kept on reruns so the archive's bytes do not change.
        """
        if not positions:
            raise LedgerInputError(f"{ticket}: no events to prove")
        self.install()
        indices = [self.leaf_index(p) for p in positions]
        if indices != sorted(set(indices)):
            raise LedgerStateError(f"{ticket}: the ledger holds its events out of order")
        size = indices[-1] + 1
        root = self.root_at(size)
        with self.store.transaction() as writer:
            writer.lock([NAME])  # one seal at a time picks the next sequence number
            seals = {row[0]: row for row in self.store.select(SEALS)}
            mine = seals.get(ticket)
            if mine is not None and mine[2] == size:
                previous_size = mine[3]
            else:
                others = [row for key, row in seals.items() if key != ticket]
                latest = max(others, key=lambda row: row[1], default=None)
                previous_size = latest[2] if latest is not None else None
                seq = mine[1] if mine is not None else 1 + max((r[1] for r in seals.values()), default=0)
                writer.upsert(SEALS, SEALS.name, [(ticket, seq, size, previous_size)])
            checkpoint = self._keep_checkpoint(writer, signer, size, root, f"seal {ticket}")
        previous = None
        consistency: tuple[bytes, ...] = ()
        if previous_size is not None:
            previous = self.checkpoint_at(previous_size)
            if previous is None:
                raise LedgerStateError(f"the checkpoint of the seal before {ticket} is missing")
            low, high = sorted((previous_size, size))
            _, _, consistency = self.consistency(low, high)
        return SealProofs(checkpoint, self.inclusions(indices, size), previous, consistency)


def _hash(text: Any, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except (TypeError, ValueError):
        value = b""
    if len(value) != 32:
        raise LedgerStateError(f"the stored hash of {what} is not 64 hex digits")
    return value


def _stored(row: tuple[Any, ...]) -> StoredCheckpoint:
    size, root, note, reason = row
    return StoredCheckpoint(size, _hash(root, f"checkpoint {size}"), note, reason)
