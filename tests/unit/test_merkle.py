"""The Merkle tree of the event log: published vectors first, then properties.

The 8-leaf vectors are the standard Certificate Transparency ones, copied from
transparency-dev/merkle, proof/verify_test.go (``leaves``, ``roots``,
``inclusionProofs``, ``consistencyProofs``), as are the corrupted-proof probes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.domain.errors import DomainError, InvalidInput
from opsledger.domain.merkle import (
    EMPTY_ROOT,
    InvalidProofError,
    MerkleError,
    MerkleFrontier,
    MerkleInputError,
    SubtreeHasher,
    check_consistency,
    check_inclusion,
    consistency_proof,
    inclusion_proof,
    leaf_bytes,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

CT_LEAVES = [
    b"",
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
CT_ROOTS = [  # CT_ROOTS[n - 1] is the root of the first n leaves
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf number counted from 1, as in the Go file; tree size; proof)
CT_INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
CT_HASHES = [leaf_hash(x) for x in CT_LEAVES]

# A few thousand synthetic events, shared by the property tests.
MAX_SIZE = 3000
EVENTS = [
    leaf_hash(
        leaf_bytes(i + 1, f"00000000-0000-4000-8000-{i:012x}", 1 + i % 7, "t.v1", b"x" * (i % 50))
    )
    for i in range(MAX_SIZE)
]


def reference_root(hashes: Sequence[bytes]) -> bytes:
    """MTH written as RFC 9162 section 2.1.1 states it, to check the fast code."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(hashes[:k]) + reference_root(hashes[k:])
    ).digest()


def flip(data: bytes, bit: int) -> bytes:
    bit %= 8 * len(data)
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- published vectors ---------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert (
        root_hash([])
        == EMPTY_ROOT
        == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )
    assert MerkleFrontier().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_ct_vectors(size: int) -> None:
    frontier = MerkleFrontier()
    frontier.extend(CT_HASHES[:size])
    assert root_hash(CT_HASHES[:size]) == CT_ROOTS[size - 1]
    assert frontier.root() == CT_ROOTS[size - 1]
    assert SubtreeHasher.over(CT_HASHES, block_height=1)(0, size) == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "proof"), CT_INCLUSION)
def test_inclusion_proofs_match_the_ct_vectors(leaf: int, size: int, proof: list[bytes]) -> None:
    index, root = leaf - 1, CT_ROOTS[size - 1]
    assert inclusion_proof(index, size, CT_HASHES) == proof
    assert verify_inclusion(CT_HASHES[index], index, size, proof, root)


@pytest.mark.parametrize(("leaf", "size", "proof"), CT_INCLUSION)
def test_corrupted_inclusion_proofs_fail(leaf: int, size: int, proof: list[bytes]) -> None:
    index, root, hashed = leaf - 1, CT_ROOTS[size - 1], CT_HASHES[leaf - 1]
    probes = [
        (index + 1, size, root, hashed, proof),
        (index ^ 2, size, root, hashed, proof),
        (index, size * 2, root, hashed, proof),
        (index, size // 2, root, hashed, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, hashed, proof),
        (index, size, SOME_HASH, hashed, proof),
        (index, size, root, hashed, [*proof, b""]),
        (index, size, root, hashed, [*proof, root]),
        (index, size, root, hashed, [b"", *proof]),
        (index, size, root, hashed, [root, *proof]),
    ]
    if index > 0:
        probes.append((index - 1, size, root, hashed, proof))
    for i in range(len(proof)):
        probes.append((index, size, root, hashed, [*proof[:i], flip(proof[i], 3), *proof[i + 1 :]]))
    if proof:
        probes.append((index, size, root, hashed, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, hashed, [proof[0], SOME_HASH, *proof[1:]]))
    for i, s, r, lh, p in probes:
        assert not verify_inclusion(lh, i, s, p, r), (i, s, r.hex(), lh.hex(), len(p))


@pytest.mark.parametrize(("size1", "size2", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_ct_vectors(
    size1: int, size2: int, proof: list[bytes]
) -> None:
    root1, root2 = CT_ROOTS[size1 - 1], CT_ROOTS[size2 - 1]
    assert consistency_proof(size1, size2, CT_HASHES) == proof
    assert verify_consistency(size1, size2, proof, root1, root2)


@pytest.mark.parametrize(("size1", "size2", "proof"), [c for c in CT_CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_fail(size1: int, size2: int, proof: list[bytes]) -> None:
    r1, r2 = CT_ROOTS[size1 - 1], CT_ROOTS[size2 - 1]
    probes = [
        (size1 - 1, size2, r1, r2, proof),
        (size1 + 1, size2, r1, r2, proof),
        (size1 ^ 2, size2, r1, r2, proof),
        (size1, size2 * 2, r1, r2, proof),
        (size1, size2 // 2, r1, r2, proof),
        (size1, size2, b"WrongRoot", r2, proof),
        (size1, size2, r1, b"WrongRoot", proof),
        (size1, size2, r2, r1, proof),
        (size1, size2, r1, r2, []),
        (size1, size2, r1, r2, [*proof, b""]),
        (size1, size2, r1, r2, [*proof, r1]),
        (size1, size2, r1, r2, [*proof, r2]),
        (size1, size2, r1, r2, [b"", *proof]),
        (size1, size2, r1, r2, [r1, *proof]),
        (size1, size2, r1, r2, [r2, *proof]),
        (size1, size2, r1, r2, [proof[0], *proof]),
        (size1, size2, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        probes.append((size1, size2, r1, r2, [*proof[:i], flip(proof[i], 4), *proof[i + 1 :]]))
    for s1, s2, a, b, p in probes:
        assert not verify_consistency(s1, s2, p, a, b), (s1, s2, len(p))


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "ok"),
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 1, EMPTY_ROOT, CT_ROOTS[0], [], True),
        (0, 8, EMPTY_ROOT, CT_ROOTS[7], [], True),
        (1, 1, CT_ROOTS[0], CT_ROOTS[0], [], True),
        (0, 0, EMPTY_ROOT, CT_ROOTS[0], [], False),
        (1, 1, CT_ROOTS[0], CT_ROOTS[1], [], False),
        # Stricter than transparency-dev: the empty tree has exactly one root.
        (0, 1, SOME_HASH, CT_ROOTS[0], [], False),
        (1, 0, CT_ROOTS[0], EMPTY_ROOT, [], False),  # time travel
        (2, 1, CT_ROOTS[1], CT_ROOTS[0], [], False),
        (1, 2, CT_ROOTS[0], CT_ROOTS[1], [], False),  # empty proof
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # roots match, proof not empty
        (0, 1, EMPTY_ROOT, CT_ROOTS[0], [EMPTY_ROOT], False),
        (1, 1, CT_ROOTS[0], CT_ROOTS[0], [EMPTY_ROOT], False),
    ],
)
def test_trivial_consistency_cases(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], ok: bool
) -> None:
    assert verify_consistency(size1, size2, proof, root1, root2) is ok


def test_single_leaf_tree_root_is_the_leaf_hash() -> None:
    one = leaf_hash(b"data")
    assert verify_inclusion(one, 0, 1, [], one)
    assert not verify_inclusion(one, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], one)
    assert not verify_inclusion(b"", 0, 1, [], b"")


# --- malformed input -----------------------------------------------------------------


def test_a_failed_proof_says_why_in_one_line() -> None:
    with pytest.raises(InvalidProofError) as info:
        check_inclusion(CT_HASHES[0], 0, 8, [SOME_HASH] * 3, CT_ROOTS[7])
    assert (
        str(info.value) == "inclusion proof: does not lead from leaf 0 to the root of tree size 8"
    )
    with pytest.raises(InvalidProofError, match="too few"):
        check_inclusion(CT_HASHES[0], 0, 8, [SOME_HASH] * 2, CT_ROOTS[7])
    with pytest.raises(InvalidProofError, match="not below tree size"):
        check_inclusion(CT_HASHES[0], 8, 8, [], CT_ROOTS[7])
    with pytest.raises(InvalidProofError, match="above size2"):
        check_consistency(3, 2, [], CT_ROOTS[2], CT_ROOTS[1])


@pytest.mark.parametrize(
    "call",
    [
        lambda: verify_inclusion(CT_HASHES[0], -1, 8, [], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0], 0, -8, [], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0], True, 8, [], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0], 0, 8.0, [], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0].hex(), 0, 8, [], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0], 0, 8, ["ab" * 32], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0], 0, 8, CT_ROOTS[0], CT_ROOTS[7]),
        lambda: verify_inclusion(CT_HASHES[0], 0, 8, None, CT_ROOTS[7]),
        lambda: verify_consistency(-1, 8, [], EMPTY_ROOT, CT_ROOTS[7]),
        lambda: verify_consistency(1, 8, [None], CT_ROOTS[0], CT_ROOTS[7]),
        lambda: verify_consistency(1, 8, [], CT_ROOTS[0], None),
        lambda: inclusion_proof(8, 8, CT_HASHES),
        lambda: inclusion_proof(0, 9, CT_HASHES),
        lambda: inclusion_proof(0, 1, "not hashes"),
        lambda: consistency_proof(5, 4, CT_HASHES),
        lambda: consistency_proof(3, 9, CT_HASHES),
        lambda: root_hash(["ab" * 32]),
        lambda: root_hash([b"short"]),
        lambda: SubtreeHasher.over(CT_HASHES)(3, 3),
    ],
)
def test_malformed_arguments_raise_a_typed_input_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MerkleInputError) as info:
        call()
    # The domain's hierarchy, so the CLI maps it to "invalid input" with no new rule.
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, MerkleError)
    assert "\n" not in str(info.value)


@settings(max_examples=300)
@given(
    index=st.integers(0, 70),
    size=st.integers(0, 70),
    proof=st.lists(st.binary(max_size=40), max_size=12),
    leaf=st.binary(max_size=40),
    root=st.binary(max_size=40),
)
def test_hostile_inclusion_proofs_are_rejected_not_crashing(
    index: int, size: int, proof: list[bytes], leaf: bytes, root: bytes
) -> None:
    assert verify_inclusion(leaf, index, size, proof, root) in (True, False)


@settings(max_examples=300)
@given(
    size1=st.integers(0, 70),
    size2=st.integers(0, 70),
    proof=st.lists(st.binary(max_size=40), max_size=12),
    root1=st.binary(max_size=40),
    root2=st.binary(max_size=40),
)
def test_hostile_consistency_proofs_are_rejected_not_crashing(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    # Random bytes cannot prove anything except the trivially true claims.
    trivial = size1 == 0 or size1 == size2
    assert verify_consistency(size1, size2, proof, root1, root2) in (
        (True, False) if trivial else (False,)
    )


# --- properties over a few thousand leaves ----------------------------------------


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, MAX_SIZE))
def test_fast_root_equals_the_rfc_definition(size: int) -> None:
    expected = reference_root(EVENTS[:size])
    assert root_hash(EVENTS[:size]) == expected
    assert MerkleFrontier.at_size(size, EVENTS) == _appended(size)
    if size:
        assert SubtreeHasher.over(EVENTS, block_height=3)(0, size) == expected


def test_frontier_root_equals_scratch_root_at_every_size() -> None:
    frontier = MerkleFrontier()
    for size in range(1, 1025):
        frontier.append(EVENTS[size - 1])
        assert frontier.size == size
        assert frontier.root() == root_hash(EVENTS[:size]), size


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_inclusion_proof_verifies_and_any_flipped_bit_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, MAX_SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = _root(size)
    proof = inclusion_proof(index, size, _HASHER)
    assert verify_inclusion(EVENTS[index], index, size, proof, root)
    assert len(proof) <= (size - 1).bit_length()

    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_inclusion(flip(EVENTS[index], bit), index, size, proof, root)
    assert not verify_inclusion(EVENTS[index], index, size, proof, flip(root, bit))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bad = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_inclusion(EVENTS[index], index, size, bad, root)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_consistency_proof_verifies_and_any_flipped_bit_fails(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(0, MAX_SIZE), label="size2")
    size1 = data.draw(st.integers(0, size2), label="size1")
    root1, root2 = _root(size1), _root(size2)
    proof = consistency_proof(size1, size2, _HASHER)
    assert verify_consistency(size1, size2, proof, root1, root2)
    if size1 == 0:
        return  # every tree extends the empty tree, whatever its root

    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_consistency(size1, size2, proof, flip(root1, bit), root2)
    assert not verify_consistency(size1, size2, proof, root1, flip(root2, bit))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="element")
        bad = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_consistency(size1, size2, bad, root1, root2)
    if size1 < size2:
        assert not verify_consistency(size1, size2, proof, root1, _root(size2 - 1))


def test_exhaustive_proofs_for_small_trees() -> None:
    for size in range(1, 65):
        root = _root(size)
        for index in range(size):
            assert verify_inclusion(
                EVENTS[index], index, size, inclusion_proof(index, size, EVENTS), root
            )
        for size1 in range(size + 1):
            proof = consistency_proof(size1, size, EVENTS)
            assert verify_consistency(size1, size, proof, _root(size1), root), (size1, size)


# --- the subtree hasher: proofs without loading the whole log ----------------------


class CountingStore:
    """A leaf-hash table that counts what a proof made it read."""

    def __init__(self, hashes: Sequence[bytes]) -> None:
        self.hashes = hashes
        self.fetched = 0
        self.queries = 0

    def fetch(self, start: int, end: int) -> Sequence[bytes]:
        self.queries += 1
        self.fetched += end - start
        return self.hashes[start:end]


def test_warm_proofs_read_a_few_blocks_not_the_log() -> None:
    store = CountingStore(EVENTS)
    hasher = SubtreeHasher(store.fetch, block_height=4)
    cold = inclusion_proof(1234, MAX_SIZE, hasher)
    assert store.fetched >= MAX_SIZE - 16  # the first proof commits to every leaf

    store.fetched = store.queries = 0
    for index in (0, 1, 777, 2047, 2999):
        proof = inclusion_proof(index, MAX_SIZE, hasher)
        assert verify_inclusion(EVENTS[index], index, MAX_SIZE, proof, _root(MAX_SIZE))
    consistency_proof(1500, MAX_SIZE, hasher)
    assert MerkleFrontier.at_size(MAX_SIZE, hasher).root() == _root(MAX_SIZE)
    # A few 16-leaf blocks per proof (the cold one skipped its own path's
    # subtrees), against 3000 leaves in 188 fetches for the cold one.
    assert store.queries <= 7 * 2 + 1 and store.fetched <= store.queries * 16
    assert cold == inclusion_proof(1234, MAX_SIZE, EVENTS)


def test_a_short_leaf_store_is_a_clear_error() -> None:
    hasher = SubtreeHasher(lambda start, end: EVENTS[start : min(end, 10)], block_height=2)
    with pytest.raises(MerkleInputError, match=r"returned 2 hashes for positions \[8, 12\)"):
        inclusion_proof(0, 12, hasher)
    garbage = SubtreeHasher(lambda start, end: ["x"] * (end - start))
    with pytest.raises(MerkleInputError, match="non-hash"):
        garbage(0, 4)


# --- the frontier --------------------------------------------------------------------


def test_frontier_round_trips_through_json() -> None:
    frontier = _appended(1234)
    data = json.loads(json.dumps(frontier.to_dict()))
    assert data["size"] == 1234 and len(data["nodes"]) == 5
    restored = MerkleFrontier.from_dict(data)
    assert restored == frontier and restored.root() == _root(1234)
    restored.append(EVENTS[1234])
    assert restored.root() == _root(1235) and frontier.size == 1234


@pytest.mark.parametrize(
    "data",
    [
        {"size": 3, "nodes": ["00" * 32]},  # 3 needs two nodes
        {"size": 1, "nodes": ["zz" * 32]},
        {"size": 1, "nodes": ["00" * 31]},
        {"size": 1, "nodes": [b"\x00" * 32]},
        {"size": -1, "nodes": []},
        {"size": "1", "nodes": ["00" * 32]},
        {"size": 2**64, "nodes": ["00" * 32]},
        {"size": 0},
        {"size": 0, "nodes": [], "extra": 1},
        {"size": 1, "nodes": "00" * 32},
        ["size", "nodes"],
    ],
)
def test_a_corrupt_stored_frontier_is_refused(data: object) -> None:
    with pytest.raises(MerkleInputError, match="^(frontier|frontier size): "):
        MerkleFrontier.from_dict(data)  # type: ignore[arg-type]


def test_frontier_refuses_a_bad_leaf_hash() -> None:
    frontier = MerkleFrontier()
    with pytest.raises(MerkleInputError):
        frontier.append(b"short")
    with pytest.raises(MerkleInputError):
        frontier.append("ab" * 32)  # type: ignore[arg-type]
    assert frontier.size == 0


# --- leaf encoding -------------------------------------------------------------------


def test_leaf_bytes_match_the_documented_example() -> None:
    expected = "0100000000000000070000000161000000000000000100000001740000000100"
    assert leaf_bytes(7, "a", 1, "t", b"\x00").hex() == expected


def test_leaf_bytes_of_a_stored_event() -> None:
    leaf = leaf_bytes(
        42, "6f0c2b1e-8d47-5a53-9a51-0b5d1f3e7c21", 3, "opsledger.ticket.Opened.v1", b'{"k":1}'
    )
    assert len(leaf) == 1 + 8 + 4 + 36 + 8 + 4 + 26 + 4 + 7
    assert leaf_hash(leaf) == hashlib.sha256(b"\x00" + leaf).digest()
    assert (
        node_hash(SOME_HASH, EMPTY_ROOT)
        == hashlib.sha256(b"\x01" + SOME_HASH + EMPTY_ROOT).digest()
    )


events = st.tuples(
    st.integers(0, 2**64 - 1),
    st.text(max_size=8),
    st.integers(0, 2**64 - 1),
    st.text(max_size=8),
    st.binary(max_size=8),
)


@settings(max_examples=500)
@given(a=events, b=events)
def test_different_events_never_share_leaf_bytes(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    assert (leaf_bytes(*a) == leaf_bytes(*b)) == (a == b)


@pytest.mark.parametrize(
    "args",
    [
        (-1, "id", 1, "t", b""),
        (2**64, "id", 1, "t", b""),
        (True, "id", 1, "t", b""),
        (1, 5, 1, "t", b""),
        (1, "id", 1.0, "t", b""),
        (1, "id", 1, "\ud800", b""),
        (1, "id", 1, "t", "state"),
        (1, "id", 1, "t", None),
    ],
)
def test_leaf_bytes_refuse_malformed_fields(args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(MerkleInputError) as info:
        leaf_bytes(*args)
    assert isinstance(info.value, DomainError)


def test_leaf_bytes_accept_bytes_like_state() -> None:
    assert leaf_bytes(1, "i", 1, "t", bytearray(b"ab")) == leaf_bytes(
        1, "i", 1, "t", memoryview(b"ab")
    )


# --- helpers -------------------------------------------------------------------------

_HASHER = SubtreeHasher.over(EVENTS, block_height=5)
_ROOTS: dict[int, bytes] = {}


def _root(size: int) -> bytes:
    if size not in _ROOTS:
        _ROOTS[size] = root_hash(EVENTS[:size])
    return _ROOTS[size]


def _appended(size: int) -> MerkleFrontier:
    frontier = MerkleFrontier()
    frontier.extend(EVENTS[:size])
    return frontier
