"""RFC 9162 hashing (section 2.1.1, identical to RFC 6962), its errors, and
the argument checks every part of the tree shares::

    empty tree     MTH({})    = SHA-256("")
    leaf           leaf_hash  = SHA-256(0x00 || leaf_bytes)
    interior node  node_hash  = SHA-256(0x01 || left || right)
    n > 1 leaves   MTH(D[n])  = node_hash(MTH(D[0:k]), MTH(D[k:n])),
                   k = the largest power of two strictly below n
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from opsledger.domain.errors import DomainError, InvalidInput

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_TREE_SIZE = 2**64 - 1

_sha256 = hashlib.sha256


class MerkleError(DomainError):
    """Base of the Merkle tree errors."""


class MerkleInputError(MerkleError, InvalidInput):
    """An argument is malformed: a negative size, a hash that is not bytes."""


class InvalidProofError(MerkleError):
    """A proof does not prove what it claims; the message says why."""


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(b"\x00" + as_bytes(leaf, "leaf")).digest()


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


def require_count(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MerkleInputError(name, f"expected an integer, got {type(value).__name__}")
    if value < 0:
        raise MerkleInputError(name, f"must not be negative, got {value}")


def require_hash(value: object, name: str) -> None:
    if not isinstance(value, bytes):
        raise MerkleInputError(name, f"expected bytes, got {type(value).__name__}")


def require_hashes(values: object, name: str) -> list[bytes]:
    if isinstance(values, (bytes, str)) or not isinstance(values, Sequence):
        raise MerkleInputError(name, f"expected a sequence of hashes, got {type(values).__name__}")
    out = list(values)
    for i, h in enumerate(out):
        require_hash(h, f"{name}[{i}]")
    return out


def as_bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise MerkleInputError(name, f"expected bytes, got {type(value).__name__}")
