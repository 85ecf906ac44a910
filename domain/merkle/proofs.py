"""Inclusion and consistency proofs and their verifiers (RFC 9162 sections
2.1.3 and 2.1.4).

Proof generation asks a ``subtree_hash(start, end)`` callback for
MTH(D[start:end]), O(log n) times per proof (see `tree.SubtreeHasher`), or
takes a sequence of leaf hashes.

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

from collections.abc import Sequence

from opsledger.domain.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    InvalidProofError,
    MerkleInputError,
    node_hash,
    require_count,
    require_hash,
    require_hashes,
)
from opsledger.domain.merkle.tree import SubtreeHash, as_subtree_hash

_INCLUSION = "inclusion proof"
_CONSISTENCY = "consistency proof"


def inclusion_proof(index: int, size: int, source: SubtreeHash | Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    RFC 9162 section 2.1.3.1. ``source`` is a ``subtree_hash(start, end)``
    callable (called once per path element) or a sequence of leaf hashes.
    """
    require_count(size, "size")
    require_count(index, "index")
    if index >= size:
        raise MerkleInputError(
            "inclusion proof", f"leaf index {index} is not below tree size {size}"
        )
    subtree = as_subtree_hash(source)
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
    require_count(size1, "size1")
    require_count(size2, "size2")
    if size1 > size2:
        raise MerkleInputError("consistency proof", f"size1 {size1} is above size2 {size2}")
    if size1 == 0 or size1 == size2:
        return []
    subtree = as_subtree_hash(source)
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
    require_count(index, "index")
    require_count(size, "size")
    path = require_hashes(proof, "proof")
    require_hash(leaf, "leaf hash")
    require_hash(root, "root")
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
    require_count(size1, "size1")
    require_count(size2, "size2")
    path = require_hashes(proof, "proof")
    require_hash(root1, "root1")
    require_hash(root2, "root2")
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


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)
