"""RFC 9162 Merkle tree over the global event log, in notification order.

Hashing (RFC 9162 section 2.1.1, identical to RFC 6962)::

    empty tree     MTH({})    = SHA-256("")
    leaf           leaf_hash  = SHA-256(0x00 || leaf_bytes)
    interior node  node_hash  = SHA-256(0x01 || left || right)
    n > 1 leaves   MTH(D[n])  = node_hash(MTH(D[0:k]), MTH(D[k:n])),
                   k = the largest power of two strictly below n

Leaf bytes of one stored event (format 1). Integers are unsigned big-endian,
text is UTF-8 exactly as stored (the originator id as ``str(uuid)``, i.e.
lower-case and hyphenated), and every variable-length field carries its length
so no two different events encode to the same bytes::

    leaf_bytes = 0x01                              1 byte, format number
              || u64(position)                     8 bytes, notification id
              || u32(len(originator_id)) || originator_id
              || u64(version)                      8 bytes, originator version
              || u32(len(topic)) || topic
              || u32(len(state)) || state          the stored state, as is

Example: ``leaf_bytes(7, "a", 1, "t", b"\\x00")`` is, in hex,
``01 0000000000000007 00000001 61 0000000000000001 00000001 74 00000001 00``.

Proofs and their verifiers follow RFC 9162 sections 2.1.3 and 2.1.4. Proof
generation asks a ``subtree_hash(start, end)`` callback for MTH(D[start:end]),
O(log n) times per proof, so a caller that stores leaf hashes in a database
need not load the whole log: see `SubtreeHasher`. `MerkleFrontier` keeps the
tree head up to date in O(log n) per appended event.

Verifier contract: `verify_inclusion` and `verify_consistency` return False
for every proof that does not prove its claim, including a leaf index not
below the tree size, a first size above the second, a proof of the wrong
length and hashes of the wrong length. `check_inclusion`/`check_consistency`
are the same checks raising `InvalidProofError` with the reason. Both raise
`MerkleInputError` only for arguments no proof could be about: negative or
non-integer sizes and indices, hashes that are not bytes. Nothing here raises
IndexError or the like for a hostile proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence

from opsledger.domain.errors import DomainError, InvalidInput

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
LEAF_FORMAT = 1
MAX_TREE_SIZE = 2**64 - 1

_U32_MAX = 2**32 - 1
_sha256 = hashlib.sha256
_INCLUSION = "inclusion proof"
_CONSISTENCY = "consistency proof"

SubtreeHash = Callable[[int, int], bytes]
"""``subtree_hash(start, end)`` returns MTH(D[start:end]) for 0 <= start < end."""

LeafHashFetcher = Callable[[int, int], Sequence[bytes]]
"""``fetch(start, end)`` returns the leaf hashes at positions start..end-1."""


class MerkleError(DomainError):
    """Base of the Merkle tree errors."""


class MerkleInputError(MerkleError, InvalidInput):
    """An argument is malformed: a negative size, a hash that is not bytes."""


class InvalidProofError(MerkleError):
    """A proof does not prove what it claims; the message says why."""


def leaf_bytes(position: int, originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """The canonical bytes of one stored event (see the module docstring)."""
    return b"".join(
        (
            bytes((LEAF_FORMAT,)),
            _uint(position, 8, "position"),
            _prefixed(_utf8(originator_id, "originator_id"), "originator_id"),
            _uint(version, 8, "version"),
            _prefixed(_utf8(topic, "topic"), "topic"),
            _prefixed(_bytes(state, "state"), "state"),
        )
    )


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(b"\x00" + _bytes(leaf, "leaf")).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over all of ``leaf_hashes``: O(n) hashing, O(n) memory."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    if any(type(h) is not bytes or len(h) != HASH_SIZE for h in level):
        raise MerkleInputError("leaf hashes", "every leaf hash must be 32 bytes")
    # Pairing level by level and carrying an odd last node upwards builds the
    # same left-balanced tree as the split at the largest power of two.
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [
            _sha256(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)
        ]
        if odd is not None:
            level.append(odd)
    return level[0]


def inclusion_proof(index: int, size: int, source: SubtreeHash | Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    RFC 9162 section 2.1.3.1. ``source`` is a ``subtree_hash(start, end)``
    callable (called once per path element) or a sequence of leaf hashes.
    """
    _count(size, "size")
    _count(index, "index")
    if index >= size:
        raise MerkleInputError(
            "inclusion proof", f"leaf index {index} is not below tree size {size}"
        )
    subtree = _as_subtree_hash(source)
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, source: SubtreeHash | Sequence[bytes]) -> list[bytes]:
    """The proof that the first ``size1`` leaves are a prefix of the first ``size2``.

    RFC 9162 section 2.1.4.1; empty when size1 is 0 or equal to size2.
    """
    _count(size1, "size1")
    _count(size2, "size2")
    if size1 > size2:
        raise MerkleInputError("consistency proof", f"size1 {size1} is above size2 {size2}")
    if size1 == 0 or size1 == size2:
        return []
    subtree = _as_subtree_hash(source)
    proof: list[bytes] = []
    m, start, end, complete = size1, 0, size2, True
    while end - start != m:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def check_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise `InvalidProofError` unless ``proof`` puts ``leaf`` at ``index`` under ``root``.

    RFC 9162 section 2.1.3.2. ``leaf`` is the leaf hash, not the leaf bytes.
    """
    _count(index, "index")
    _count(size, "size")
    path = _hashes(proof, "proof")
    _hash_arg(leaf, "leaf hash")
    _hash_arg(root, "root")
    if index >= size:
        raise InvalidProofError(_INCLUSION, f"leaf index {index} is not below tree size {size}")
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        raise InvalidProofError(_INCLUSION, "leaf hash and root must be 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise InvalidProofError(
                _INCLUSION, f"has {len(path)} hashes, too many for index {index} of {size}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProofError(
            _INCLUSION, f"has {len(path)} hashes, too few for index {index} of {size}"
        )
    if r != root:
        raise InvalidProofError(
            _INCLUSION, f"does not lead from leaf {index} to the root of tree size {size}"
        )


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        check_inclusion(leaf, index, size, proof, root)
    except InvalidProofError:
        return False
    return True


def check_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise `InvalidProofError` unless tree (size1, root1) is a prefix of (size2, root2).

    RFC 9162 section 2.1.4.2 for 0 < size1 < size2. Equal sizes need an empty
    proof and equal roots. The empty tree is a prefix of every tree, but only
    under its own root, SHA-256(""), which is stricter than transparency-dev.
    """
    _count(size1, "size1")
    _count(size2, "size2")
    path = _hashes(proof, "proof")
    _hash_arg(root1, "root1")
    _hash_arg(root2, "root2")
    if size1 > size2:
        raise InvalidProofError(_CONSISTENCY, f"size1 {size1} is above size2 {size2}")
    if len(root1) != HASH_SIZE or len(root2) != HASH_SIZE:
        raise InvalidProofError(_CONSISTENCY, "roots must be 32 bytes")
    if size1 == 0 or size1 == size2:
        if path:
            raise InvalidProofError(_CONSISTENCY, f"must be empty from size {size1} to {size2}")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise InvalidProofError(_CONSISTENCY, "root1 is not the empty tree's root")
        if root1 != root2 and size1 == size2:
            raise InvalidProofError(_CONSISTENCY, f"two different roots for the same size {size1}")
        return
    if not path:
        raise InvalidProofError(_CONSISTENCY, f"is empty from size {size1} to {size2}")
    if size1 & (size1 - 1) == 0:
        path = [root1, *path]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProofError(
                _CONSISTENCY, f"has too many hashes from size {size1} to {size2}"
            )
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProofError(_CONSISTENCY, f"has too few hashes from size {size1} to {size2}")
    if fr != root1:
        raise InvalidProofError(_CONSISTENCY, f"does not lead to root1 of size {size1}")
    if sr != root2:
        raise InvalidProofError(_CONSISTENCY, f"does not lead to root2 of size {size2}")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    try:
        check_consistency(size1, size2, proof, root1, root2)
    except InvalidProofError:
        return False
    return True


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
        _count(block_height, "block_height")
        self._fetch = fetch
        self._block_height = block_height
        self._cache: MutableMapping[tuple[int, int], bytes] = {} if cache is None else cache
        self._known_size = 0
        self._block: tuple[int, Sequence[bytes]] = (0, ())

    @classmethod
    def over(cls, leaf_hashes: Sequence[bytes], *, block_height: int = 8) -> SubtreeHasher:
        return cls(lambda start, end: leaf_hashes[start:end], block_height=block_height)

    def __call__(self, start: int, end: int) -> bytes:
        _count(start, "start")
        _count(end, "end")
        if start >= end:
            raise MerkleInputError("subtree", f"empty or reversed range [{start}, {end})")
        self._known_size = max(self._known_size, end)
        # MTH of a range is its perfect subtrees, largest first, folded from the right.
        parts = [self._perfect(s, h) for s, h in _perfect_ranges(start, end)]
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
        _hash_arg(leaf_hash, "leaf hash")
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
        _count(size, "frontier size")
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
        _count(size, "size")
        subtree = _as_subtree_hash(source)
        frontier = cls()
        frontier._nodes = [subtree(s, s + (1 << h)) for s, h in _perfect_ranges(0, size)]
        frontier._size = size
        return frontier

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MerkleFrontier):
            return NotImplemented
        return self._size == other._size and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MerkleFrontier(size={self._size}, root={self.root().hex()})"


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _perfect_ranges(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as (start, height) perfect subtrees, largest first, per MTH's split."""
    out = []
    n = end - start
    while n:
        h = n.bit_length() - 1
        out.append((start, h))
        start += 1 << h
        n -= 1 << h
    return out


def _as_subtree_hash(source: SubtreeHash | Sequence[bytes]) -> SubtreeHash:
    if callable(source):
        return source
    if isinstance(source, Sequence) and not isinstance(source, (bytes, str)):
        return SubtreeHasher.over(source)
    raise MerkleInputError(
        "proof source", f"expected a callable or a sequence, got {type(source).__name__}"
    )


def _count(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MerkleInputError(name, f"expected an integer, got {type(value).__name__}")
    if value < 0:
        raise MerkleInputError(name, f"must not be negative, got {value}")


def _hash_arg(value: object, name: str) -> None:
    if not isinstance(value, bytes):
        raise MerkleInputError(name, f"expected bytes, got {type(value).__name__}")


def _hashes(values: object, name: str) -> list[bytes]:
    if isinstance(values, (bytes, str)) or not isinstance(values, Sequence):
        raise MerkleInputError(name, f"expected a sequence of hashes, got {type(values).__name__}")
    out = list(values)
    for i, h in enumerate(out):
        _hash_arg(h, f"{name}[{i}]")
    return out


def _uint(value: object, width: int, name: str) -> bytes:
    _count(value, name)
    assert isinstance(value, int)
    if value >= 1 << (8 * width):
        raise MerkleInputError(name, f"{value} does not fit in {8 * width} bits")
    return value.to_bytes(width, "big")


def _utf8(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise MerkleInputError(name, f"expected str, got {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise MerkleInputError(name, "is not encodable as UTF-8") from None


def _bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise MerkleInputError(name, f"expected bytes, got {type(value).__name__}")


def _prefixed(data: bytes, name: str) -> bytes:
    if len(data) > _U32_MAX:
        raise MerkleInputError(name, f"{len(data)} bytes do not fit a 32-bit length")
    return len(data).to_bytes(4, "big") + data
