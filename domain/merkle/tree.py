"""The tree as it grows: `MerkleFrontier` keeps the head up to date in
O(log n) per appended event, and `SubtreeHasher` answers MTH(D[start:end])
from leaf hashes fetched on demand, so a caller that stores leaf hashes in a
database need not load the whole log to prove anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence

from opsledger.domain.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    MerkleInputError,
    node_hash,
    require_count,
    require_hash,
    root_hash,
)

SubtreeHash = Callable[[int, int], bytes]
"""``subtree_hash(start, end)`` returns MTH(D[start:end]) for 0 <= start < end."""

LeafHashFetcher = Callable[[int, int], Sequence[bytes]]
"""``fetch(start, end)`` returns the leaf hashes at positions start..end-1."""


class SubtreeHasher:
    """MTH(D[start:end]) from leaf hashes fetched on demand, memoising subtrees.

    Use an instance as the ``source`` of `inclusion_proof`/`consistency_proof`.
    Every range is split into perfect subtrees (2**h leaves); those of height
    ``block_height`` or more are memoised in ``cache`` (any mutable mapping,
    keyed ``(start, height)``). Smaller ones are hashed from an aligned block
    of at most 2**block_height leaves, fetched once and kept until a range
    outside it is needed. The log is append-only, so a perfect subtree never
    changes and the cache stays valid as the tree grows; ``fetch`` must only
    ever be asked for leaves that exist, and it is never asked beyond the
    largest ``end`` this hasher has been called with.

    Cost: the first proof over n leaves fetches and hashes all n (the proof
    commits to all of them), in n / 2**block_height fetches. Later proofs, for
    any size and index, need O(log n) cache look-ups, two fetches of at most
    2**block_height leaves and about 2**(block_height + 1) hashes, plus the
    work for leaves appended since. The cache holds about 2n / 2**block_height
    hashes (about 8,000 for a million leaves at the default height of 8).
    """

    def __init__(
        self,
        fetch: LeafHashFetcher,
        *,
        block_height: int = 8,
        cache: MutableMapping[tuple[int, int], bytes] | None = None,
    ) -> None:
        require_count(block_height, "block_height")
        self._fetch = fetch
        self._block_height = block_height
        self._cache: MutableMapping[tuple[int, int], bytes] = {} if cache is None else cache
        self._known_size = 0
        self._block: tuple[int, Sequence[bytes]] = (0, ())

    @classmethod
    def over(cls, leaf_hashes: Sequence[bytes], *, block_height: int = 8) -> SubtreeHasher:
        return cls(lambda start, end: leaf_hashes[start:end], block_height=block_height)

    def __call__(self, start: int, end: int) -> bytes:
        require_count(start, "start")
        require_count(end, "end")
        if start >= end:
            raise MerkleInputError("subtree", f"empty or reversed range [{start}, {end})")
        self._known_size = max(self._known_size, end)
        # MTH of a range is its perfect subtrees, largest first, folded from the right.
        parts = [self._perfect(s, h) for s, h in perfect_ranges(start, end)]
        r = parts.pop()
        while parts:
            r = node_hash(parts.pop(), r)
        return r

    def _perfect(self, start: int, height: int) -> bytes:
        key = (start, height)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if height <= self._block_height:
            value = root_hash(self._leaves(start, start + (1 << height)))
        else:
            half = 1 << (height - 1)
            value = node_hash(
                self._perfect(start, height - 1), self._perfect(start + half, height - 1)
            )
        if height >= self._block_height:
            self._cache[key] = value
        return value

    def _leaves(self, start: int, end: int) -> Sequence[bytes]:
        base, block = self._block
        if not base <= start or base + len(block) < end or not block:
            base = start >> self._block_height << self._block_height
            stop = max(end, min(base + (1 << self._block_height), self._known_size))
            block = self._fetch(base, stop)
            if len(block) != stop - base:
                raise MerkleInputError(
                    "leaf store", f"returned {len(block)} hashes for positions [{base}, {stop})"
                )
            if any(type(h) is not bytes or len(h) != HASH_SIZE for h in block):
                raise MerkleInputError("leaf store", f"returned a non-hash in [{base}, {stop})")
            self._block = (base, block)
        return block[start - base : end - base]


class MerkleFrontier:
    """Incremental tree head: the roots of the perfect subtrees covering the log.

    ``nodes`` holds one hash per set bit of ``size``, largest subtree first
    (a "compact range" of [0, size)). `append` costs O(log n) hashes in the
    worst case and O(1) amortised; `root` costs O(log n).
    """

    __slots__ = ("_size", "_nodes")

    def __init__(self) -> None:
        self._size = 0
        self._nodes: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    @property
    def nodes(self) -> tuple[bytes, ...]:
        return tuple(self._nodes)

    def append(self, leaf_hash: bytes) -> None:
        require_hash(leaf_hash, "leaf hash")
        if len(leaf_hash) != HASH_SIZE:
            raise MerkleInputError("frontier", f"leaf hash has {len(leaf_hash)} bytes, not 32")
        if self._size >= MAX_TREE_SIZE:
            raise MerkleInputError("frontier", "tree is full")
        h, n = leaf_hash, self._size
        while n & 1:
            h = node_hash(self._nodes.pop(), h)
            n >>= 1
        self._nodes.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        r = self._nodes[-1]
        for h in reversed(self._nodes[:-1]):
            r = node_hash(h, r)
        return r

    def copy(self) -> MerkleFrontier:
        other = MerkleFrontier()
        other._size, other._nodes = self._size, list(self._nodes)
        return other

    def to_dict(self) -> dict[str, object]:
        """``{"size": int, "nodes": [hex, ...]}``, safe for JSON."""
        return {"size": self._size, "nodes": [h.hex() for h in self._nodes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MerkleFrontier:
        if not isinstance(data, Mapping) or set(data) != {"size", "nodes"}:
            raise MerkleInputError("frontier", "expected exactly the keys 'size' and 'nodes'")
        size, hexes = data["size"], data["nodes"]
        require_count(size, "frontier size")
        assert isinstance(size, int)
        if size > MAX_TREE_SIZE:
            raise MerkleInputError("frontier", f"size {size} is above 2**64 - 1")
        if not isinstance(hexes, list) or len(hexes) != size.bit_count():
            raise MerkleInputError("frontier", f"size {size} needs {size.bit_count()} node hashes")
        nodes = []
        for i, text in enumerate(hexes):
            if not isinstance(text, str) or len(text) != 2 * HASH_SIZE:
                raise MerkleInputError("frontier", f"node {i} is not 64 hex digits")
            try:
                nodes.append(bytes.fromhex(text))
            except ValueError:
                raise MerkleInputError("frontier", f"node {i} is not 64 hex digits") from None
        frontier = cls()
        frontier._size, frontier._nodes = size, nodes
        return frontier

    @classmethod
    def at_size(cls, size: int, source: SubtreeHash | Sequence[bytes]) -> MerkleFrontier:
        """The frontier of the first ``size`` leaves, in O(log n) subtree look-ups."""
        require_count(size, "size")
        subtree = as_subtree_hash(source)
        frontier = cls()
        frontier._nodes = [subtree(s, s + (1 << h)) for s, h in perfect_ranges(0, size)]
        frontier._size = size
        return frontier

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MerkleFrontier):
            return NotImplemented
        return self._size == other._size and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MerkleFrontier(size={self._size}, root={self.root().hex()})"


def perfect_ranges(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as (start, height) perfect subtrees, largest first, per MTH's split."""
    out = []
    n = end - start
    while n:
        h = n.bit_length() - 1
        out.append((start, h))
        start += 1 << h
        n -= 1 << h
    return out


def as_subtree_hash(source: SubtreeHash | Sequence[bytes]) -> SubtreeHash:
    if callable(source):
        return source
    if isinstance(source, Sequence) and not isinstance(source, (bytes, str)):
        return SubtreeHasher.over(source)
    raise MerkleInputError(
        "proof source", f"expected a callable or a sequence, got {type(source).__name__}"
    )
