"""The ledger view: the RFC 9162 Merkle tree over every stored event, kept incrementally.

Leaf i is the i-th stored event in notification order (positions may have
gaps), hashed over `domain.merkle.leaf_bytes` of its position, originator id,
version, topic and state bytes exactly as stored. Like every view, the rows
below are written in the same transaction as the view's tracking position, so
the tree never holds half a batch and a restart neither skips nor repeats an
event. Per event: one leaf hash, one amortised node hash, one appended row.

Tables:
- `ledger_leaves`: leaf index -> (position, leaf hash), what proofs are built from
  and what `ledger verify` compares the log with, event by event;
- `ledger_nodes`: every perfect subtree of 2**8 leaves or more, keyed by its
  flat-tree index, so a proof reads O(log n) rows instead of every leaf;
- `ledger_heads`: the tree head at every multiple of 1024 leaves;
- `ledger_frontier`: the one row of the O(log n) frontier (the compact range of
  [0, size)) from which the next batch continues.

Signed checkpoints and seal records are not derived from the log, so they live
in tables of their own (`CHECKPOINTS`, `SEALS`) that a rebuild never drops.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from opsledger.domain.merkle import MerkleFrontier, leaf_bytes, leaf_hash, node_hash
from opsledger.projections.errors import ProjectionError
from opsledger.projections.facts import Fact
from opsledger.projections.schema import Column, Table
from opsledger.projections.view import Rows, View

NAME = "ledger"
NODE_HEIGHT = 8  # also the SubtreeHasher block height: below it, leaves are hashed on demand
HEAD_INTERVAL = 1024
FRONTIER_KEY = "frontier"


class LedgerError(ProjectionError):
    """Base of the ledger's errors; the message is one line."""


class LedgerInputError(LedgerError):
    """A position, size or document that no proof can be about."""


class LedgerBehind(LedgerError):
    """The ledger has not absorbed what was asked for (catch it up first)."""


class LedgerStateError(LedgerError):
    """The ledger's own tables contradict each other or a signed checkpoint."""


def stored_bytes(state: object) -> bytes:
    """The state as the store hands it back; a row edited by hand may come back
    as text (SQLite keeps whatever type was written), hashed as its UTF-8."""
    if isinstance(state, str):
        return state.encode("utf-8", "surrogatepass")
    return bytes(state)  # type: ignore[call-overload]


def node_id(start: int, height: int) -> int:
    """Flat-tree (in-order) index of the perfect subtree [start, start + 2**height)."""
    return 2 * start + (1 << height) - 1


def _encode_frontier(frontier: MerkleFrontier) -> tuple[Any, ...]:
    return (FRONTIER_KEY, frontier.size, json.dumps([h.hex() for h in frontier.nodes]))


def _decode_frontier(row: tuple[Any, ...]) -> MerkleFrontier:
    _, size, nodes = row
    return MerkleFrontier.from_dict({"size": size, "nodes": json.loads(nodes)})


LEAVES = Table(
    "ledger_leaves",
    (
        Column("leaf_index", "int", nullable=False),
        Column("position", "int", nullable=False),
        Column("leaf_hash", "text", nullable=False),
    ),
    key=("leaf_index",),
    indexes=(("position",),),
    append_only=True,
)
NODES = Table(
    "ledger_nodes",
    (
        Column("node", "int", nullable=False),
        Column("start", "int", nullable=False),
        Column("height", "int", nullable=False),
        Column("hash", "text", nullable=False),
    ),
    key=("node",),
    append_only=True,
)
HEADS = Table(
    "ledger_heads",
    (Column("size", "int", nullable=False), Column("root_hash", "text", nullable=False)),
    key=("size",),
    append_only=True,
)
FRONTIER = Table(
    "ledger_frontier",
    (
        Column("name", "text", nullable=False),
        Column("size", "int", nullable=False),
        Column("nodes", "text", nullable=False),
    ),
    key=("name",),
    encode=_encode_frontier,
    decode=_decode_frontier,
)

# Not part of the view: signed, not derived, so never dropped by a rebuild.
CHECKPOINTS = Table(
    "ledger_checkpoints",
    (
        Column("size", "int", nullable=False),
        Column("root_hash", "text", nullable=False),
        Column("note", "text", nullable=False),
        Column("reason", "text", nullable=False),
    ),
    key=("size",),
)
# One row per sealed ticket: which tree it was sealed at and the seal before it,
# so a rerun of the same seal reproduces the same proofs byte for byte.
SEALS = Table(
    "ledger_seals",
    (
        Column("ticket", "text", nullable=False),
        Column("seq", "int", nullable=False),
        Column("size", "int", nullable=False),
        Column("previous_size", "int"),
    ),
    key=("ticket",),
)


class LedgerView(View):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (LEAVES, NODES, HEADS, FRONTIER)

    def wants(self, topic: str) -> bool:
        return True  # every stored event is a leaf

    def needs(self, facts: Sequence[Fact]) -> Mapping[str, Iterable[Any]]:
        return {FRONTIER.name: (FRONTIER_KEY,)}

    def apply(self, fact: Fact, rows: Rows) -> None:
        frontier = rows.changed.get(FRONTIER.name, {}).get(FRONTIER_KEY)
        if frontier is None:
            # The first fact of a batch copies the stored (or cached) frontier, so
            # a rolled-back batch leaves the cached one as it was.
            held = rows.get(FRONTIER.name, FRONTIER_KEY)
            frontier = held.copy() if held is not None else MerkleFrontier()
            rows.put(FRONTIER.name, FRONTIER_KEY, frontier)
        leaf = leaf_hash(
            leaf_bytes(
                fact.position, fact.originator_id, fact.version, fact.topic, stored_bytes(fact.state)
            )
        )
        index = frontier.size
        rows.append(LEAVES.name, (index, fact.position, leaf.hex()))
        size = index + 1
        height = (size & -size).bit_length() - 1
        if height >= NODE_HEIGHT:
            # The merges this append makes are the perfect subtrees ending here;
            # the frontier keeps only the largest, so they are recomputed (once
            # per 256 events) from its nodes before it absorbs the leaf.
            before = frontier.nodes
            h = leaf
            for k in range(1, height + 1):
                h = node_hash(before[-k], h)
                if k >= NODE_HEIGHT:
                    start = size - (1 << k)
                    rows.append(NODES.name, (node_id(start, k), start, k, h.hex()))
        frontier.append(leaf)
        if size % HEAD_INTERVAL == 0:
            rows.append(HEADS.name, (size, frontier.root().hex()))
