"""RFC 9162 Merkle tree over the global event log, in notification order.

Import from here. The parts: `hashing` (leaf and node hashes, the tree hash,
the errors), `encoding` (the canonical leaf bytes of one stored event),
`proofs` (inclusion and consistency proofs and their verifiers) and `tree`
(`MerkleFrontier`, the head kept up to date per event, and `SubtreeHasher`,
subtree hashes from leaf hashes fetched on demand).
"""

from opsledger.domain.merkle.encoding import LEAF_FORMAT, leaf_bytes
from opsledger.domain.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    InvalidProofError,
    MerkleError,
    MerkleInputError,
    leaf_hash,
    node_hash,
    root_hash,
)
from opsledger.domain.merkle.proofs import (
    check_consistency,
    check_inclusion,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from opsledger.domain.merkle.tree import LeafHashFetcher, MerkleFrontier, SubtreeHash, SubtreeHasher

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_FORMAT",
    "MAX_TREE_SIZE",
    "InvalidProofError",
    "LeafHashFetcher",
    "MerkleError",
    "MerkleFrontier",
    "MerkleInputError",
    "SubtreeHash",
    "SubtreeHasher",
    "check_consistency",
    "check_inclusion",
    "consistency_proof",
    "inclusion_proof",
    "leaf_bytes",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]
