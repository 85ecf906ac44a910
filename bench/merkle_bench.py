"""What the Merkle tree costs over a million stored events.

Hashing is the floor, so every figure is also given as a ratio to plain
SHA-256 over the same leaf bytes, measured in the same run:

- the tree head from scratch (leaf hashes plus interior nodes);
- one appended event on `MerkleFrontier` at 1e3, 1e5 and 1e6 leaves, to show
  the incremental cost does not grow with the log;
- inclusion and consistency proofs through `SubtreeHasher`, cold and warm.

Run: ``.venv/bin/python bench/merkle_bench.py [--leaves N]``
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
import uuid
from collections.abc import Callable

from opsledger.domain.merkle import (
    MerkleFrontier,
    SubtreeHasher,
    consistency_proof,
    inclusion_proof,
    leaf_bytes,
    leaf_hash,
    root_hash,
    verify_inclusion,
)

APPENDS = 20_000
WARM_PROOFS = 1_000


def synthetic_leaves(count: int, start: int = 1) -> list[bytes]:
    """Leaf bytes shaped like stored events: a uuid, a topic, ~100 bytes of JSON state."""
    rng = random.Random(start)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5_000)]
    topics = [
        "opsledger.ticket.EvidenceAttached.v1",
        "opsledger.flag.Toggled.v1",
        "opsledger.shift.Accepted.v1",
    ]
    out = []
    for position in range(start, start + count):
        state = (
            b'{"ticket":"CHG-%07d","artefact":"reports/live/2026-11-24/deploy.log","sha256":"%064x"}'
            % (
                position,
                position,
            )
        )
        out.append(
            leaf_bytes(
                position, ids[position % len(ids)], 1 + position % 9, topics[position % 3], state
            )
        )
    return out


def best_of(runs: int, work: Callable[[], object]) -> float:
    # As timeit does: a collection pass over a million live leaves is noise.
    best = float("inf")
    gc.disable()
    try:
        for _ in range(runs):
            began = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - began)
    finally:
        gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    n = args.leaves

    leaves = synthetic_leaves(n)
    mean_size = sum(map(len, leaves)) / n
    sha256 = hashlib.sha256
    print(f"{n:,} synthetic leaves, {mean_size:.0f} bytes each on average")

    reference = best_of(args.runs, lambda: [sha256(x).digest() for x in leaves])
    leaf_time = best_of(args.runs, lambda: [leaf_hash(x) for x in leaves])
    hashes = [leaf_hash(x) for x in leaves]
    tree_time = best_of(args.runs, lambda: root_hash(hashes))
    total = leaf_time + tree_time
    print(f"plain SHA-256 over the leaf bytes (reference): {reference:.3f} s")
    print(f"leaf hashes: {leaf_time:.3f} s   interior nodes: {tree_time:.3f} s")
    print(f"tree head from scratch: {total:.3f} s = {total / reference:.2f} x reference")

    per_sha = reference / n
    extra = [leaf_hash(x) for x in synthetic_leaves(APPENDS, start=n + 1)]
    frontier = MerkleFrontier()
    checkpoints = {size: None for size in (1_000, 100_000, n) if size <= n}
    snapshots: dict[int, MerkleFrontier] = {}
    for i, h in enumerate(hashes, 1):
        frontier.append(h)
        if i in checkpoints:
            snapshots[i] = frontier.copy()
    assert frontier.root() == root_hash(hashes)
    print(
        f"incremental, mean of {APPENDS:,} appends (reference: one plain SHA-256 = {per_sha * 1e6:.2f} us):"
    )
    for size, snapshot in snapshots.items():

        def appends(start: MerkleFrontier = snapshot) -> None:
            f = start.copy()
            for h in extra:
                f.append(h)

        per_append = best_of(args.runs, appends) / APPENDS
        grown = snapshot.copy()
        grown.extend(extra)
        root_time = best_of(args.runs, lambda g=grown: [g.root() for _ in range(1_000)]) / 1_000
        print(
            f"  at {size:>9,} leaves: append {per_append * 1e6:.2f} us"
            f" = {per_append / per_sha:.2f} x reference;"
            f" root() {root_time * 1e6:.1f} us = {root_time / per_sha:.1f} x reference"
        )

    store = SubtreeHasher.over(hashes)
    began = time.perf_counter()
    inclusion_proof(n // 3, n, store)
    cold = time.perf_counter() - began
    rng = random.Random(7)
    indices = [rng.randrange(n) for _ in range(WARM_PROOFS)]
    root = root_hash(hashes)
    began = time.perf_counter()
    proofs = [inclusion_proof(i, n, store) for i in indices]
    warm = (time.perf_counter() - began) / WARM_PROOFS
    began = time.perf_counter()
    for size1 in indices:
        consistency_proof(size1, n, store)
    warm_consistency = (time.perf_counter() - began) / WARM_PROOFS
    assert all(
        verify_inclusion(hashes[i], i, n, p, root) for i, p in zip(indices, proofs, strict=True)
    )
    print(
        f"proofs at {n:,} leaves: first (cold) inclusion proof {cold:.3f} s"
        f" = {cold / reference:.2f} x reference;"
        f" warm inclusion {warm * 1e6:.0f} us, warm consistency {warm_consistency * 1e6:.0f} us"
        f" (= {warm / per_sha:.0f} and {warm_consistency / per_sha:.0f} x one SHA-256)"
    )


if __name__ == "__main__":
    main()
