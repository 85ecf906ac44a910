"""`ledger verify`: recompute the tree from the log and say what was tampered with, where.

One streaming pass reads the log in notification order and the stored leaf
hashes in leaf order, joined by position:

- altered:   the position is in both, with another leaf hash;
- reordered: an altered position now holds the event stored at another one
             (its bytes, relabelled with that position, hash to that leaf);
- deleted:   a stored leaf's position is gone from the log;
- truncated: the same, past the log's last event (its tail is gone);
- inserted:  the log holds a position the ledger never saw, though the ledger
             has read past it.

Then the tree recomputed from the log is held against every checkpoint, stored
or published (each signature checked first): a rewritten event changes every
root after it and a truncated log is shorter than the checkpoints that covered
it, even when the ledger's own tables were rewritten to match. The ledger's
tables are also checked against each other (leaves, frontier, periodic heads,
checkpoints), which catches an edit of both an event and its leaf row.
Every problem is reported; nothing stops at the first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from opsledger.domain.checkpoint import (
    Checkpoint,
    CheckpointError,
    SignatureVerifier,
    open_checkpoint,
    split_note,
)
from opsledger.domain.merkle import MerkleFrontier, leaf_bytes, leaf_hash
from opsledger.projections.ledger import HEADS, LEAVES, LedgerStateError, stored_bytes
from opsledger.projections.ledger_log import Ledger, TreeHead

PAGE = 1000
_NO_LIMIT = 2**63 - 1  # the frontier is unreadable: take every stored leaf
MAX_REORDER_CANDIDATES = 2000  # the pairing is quadratic; beyond this, altered is said

Content = tuple[str, int, str, bytes]


@dataclass(frozen=True)
class Tamper:
    kind: str  # altered, reordered, deleted, truncated, inserted, checkpoint, signature, ledger-store
    position: int | None
    detail: str

    def line(self) -> str:
        where = f" position {self.position}" if self.position is not None else ""
        return f"{self.kind}{where}: {self.detail}"


@dataclass
class AuditReport:
    log_events: int = 0
    log_root: bytes = b""
    ledger: TreeHead | None = None
    checkpoints: int = 0
    signatures_checked: bool = False
    findings: list[Tamper] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Target:
    """A size the recomputed trees must be measured at, and who claims what there."""

    size: int
    claims: list[tuple[str, bytes]] = field(default_factory=list)  # (label, signed root)
    heads: list[bytes] = field(default_factory=list)  # periodic heads the ledger stored
    log_root: bytes | None = None
    stored_root: bytes | None = None


class _Measured:
    """A frontier that records its root as it passes each target size."""

    def __init__(self, sizes: list[int]) -> None:
        self.frontier = MerkleFrontier()
        self._sizes = sizes
        self._next = 0
        self.roots: dict[int, bytes] = {}
        self._take()

    def append(self, leaf: bytes) -> None:
        self.frontier.append(leaf)
        self._take()

    def _take(self) -> None:
        while self._next < len(self._sizes) and self._sizes[self._next] <= self.frontier.size:
            if self._sizes[self._next] == self.frontier.size:
                self.roots[self.frontier.size] = self.frontier.root()
            self._next += 1


def audit(
    ledger: Ledger,
    published: Sequence[tuple[str, bytes]] = (),
    verifiers: Sequence[SignatureVerifier] = (),
    *,
    page: int = PAGE,
) -> AuditReport:
    """Checks the log against the ledger and every checkpoint; `published` is
    (label, signed note) read from wherever checkpoints were published."""
    report = AuditReport(signatures_checked=bool(verifiers))
    try:
        head = ledger.head()
    except LedgerStateError as e:
        report.findings.append(Tamper("ledger-store", None, str(e)))
        head = TreeHead(_NO_LIMIT, b"", ledger.status().position)
    stored = ledger.checkpoints()
    heads = ledger.store.select(HEADS)
    report.ledger = head
    targets: dict[int, _Target] = {}
    notes = [(f"stored checkpoint {c.size}", c.note.encode("utf-8")) for c in stored]
    for label, text in [*notes, *published]:
        checkpoint = _open(label, text, verifiers, report.findings)
        if checkpoint is not None:
            target = targets.setdefault(checkpoint.size, _Target(checkpoint.size))
            target.claims.append((label, checkpoint.root_hash))
            report.checkpoints += 1
    for size, root in heads:
        targets.setdefault(size, _Target(size)).heads.append(_unhex(root))
    sizes = sorted(targets)
    from_log = _Measured(sizes)
    from_leaves = _Measured(sizes)
    mismatched: dict[int, tuple[Content, bytes, bytes]] = {}
    findings = report.findings
    log_last = 0
    log = _log(ledger, page)
    leaves = _leaves(ledger, head.size, findings)
    entry = next(log, None)
    leaf = next(leaves, None)
    while entry is not None or leaf is not None:
        if leaf is not None and (entry is None or leaf[0] < entry[0]):
            position = leaf[0]
            if entry is None and position > log_last:
                findings.append(Tamper("truncated", position, "gone from the end of the log"))
            else:
                findings.append(Tamper("deleted", position, "the ledger holds it, the log no longer does"))
            from_leaves.append(leaf[1])
            leaf = next(leaves, None)
            continue
        assert entry is not None
        position, hashed, content = entry
        log_last = position
        from_log.append(hashed)
        report.log_events += 1
        if leaf is not None and leaf[0] == position:
            if leaf[1] != hashed:
                mismatched[position] = (content, hashed, leaf[1])
            from_leaves.append(leaf[1])
            leaf = next(leaves, None)
        elif position <= head.position:
            findings.append(
                Tamper("inserted", position, f"{_describe(content)} is not among the ledger's leaves")
            )
        entry = next(log, None)
    findings.extend(_altered(mismatched))
    findings.sort(key=lambda f: (f.position is None, f.position or 0))
    report.log_root = from_log.frontier.root()
    for target in targets.values():
        target.log_root = from_log.roots.get(target.size)
        target.stored_root = from_leaves.roots.get(target.size)
    findings.extend(_against_checkpoints(sizes, targets, report.log_events))
    findings.extend(_against_frontier(head, from_leaves.frontier))
    return report


def _open(
    label: str, text: bytes, verifiers: Sequence[SignatureVerifier], findings: list[Tamper]
) -> Checkpoint | None:
    try:
        if verifiers:
            return open_checkpoint(text, verifiers).checkpoint
        note, _ = split_note(text)
        return Checkpoint.from_text(note)
    except CheckpointError as e:
        findings.append(Tamper("signature", None, f"{label}: {e}"))
        return None


def _log(ledger: Ledger, page: int) -> Iterator[tuple[int, bytes, Content]]:
    start = 1
    while True:
        batch = ledger.log.recorder.select_notifications(start=start, limit=page)
        for n in batch:
            content = (str(n.originator_id), n.originator_version, n.topic, stored_bytes(n.state))
            yield n.id, leaf_hash(leaf_bytes(n.id, *content)), content
        if len(batch) < page:
            return
        start = batch[-1].id + 1


def _leaves(ledger: Ledger, size: int, findings: list[Tamper]) -> Iterator[tuple[int, bytes]]:
    """(position, leaf hash) of the stored leaves below `size`, in leaf order."""
    expected, last = 0, 0
    for index, position, text in ledger.store.scan(LEAVES):
        if index >= size:
            return
        if index != expected:
            findings.append(Tamper("ledger-store", None, f"leaf {expected} is missing from the ledger"))
            expected = index
        if position <= last:
            findings.append(
                Tamper("ledger-store", position, f"leaf {index} is out of position order")
            )
            continue
        expected, last = index + 1, position
        hashed = _unhex(text)
        if len(hashed) != 32:
            findings.append(Tamper("ledger-store", position, f"leaf {index}'s hash is unreadable"))
            hashed = bytes(32)
        yield position, hashed
    if expected < size and size != _NO_LIMIT:
        findings.append(
            Tamper("ledger-store", None, f"the ledger counts {size} leaves but holds {expected}")
        )


def _altered(mismatched: dict[int, tuple[Content, bytes, bytes]]) -> list[Tamper]:
    stored_at = {position: stored for position, (_, _, stored) in mismatched.items()}
    origin: dict[int, int] = {}
    if len(mismatched) <= MAX_REORDER_CANDIDATES:
        for position, (content, _, _) in mismatched.items():
            for other, stored in stored_at.items():
                if other != position and leaf_hash(leaf_bytes(other, *content)) == stored:
                    origin[position] = other
                    break
    found = []
    for position, (content, hashed, stored) in sorted(mismatched.items()):
        if position in origin:
            detail = f"now holds {_describe(content)}, which the ledger has at position {origin[position]}"
            found.append(Tamper("reordered", position, detail))
        else:
            detail = (
                f"{_describe(content)} hashes to {hashed.hex()[:16]}…, "
                f"the ledger recorded {stored.hex()[:16]}…"
            )
            found.append(Tamper("altered", position, detail))
    return found


def _against_checkpoints(sizes: list[int], targets: dict[int, _Target], log_events: int) -> list[Tamper]:
    found = []
    for size in sizes:
        target = targets[size]
        for label, root in target.claims:
            if target.log_root is None:
                found.append(
                    Tamper("truncated", None, f"{label} covers {size} events, the log holds {log_events}")
                )
            elif target.log_root != root:
                found.append(
                    Tamper(
                        "checkpoint",
                        None,
                        f"{label}: the log's first {size} events hash to "
                        f"{target.log_root.hex()[:16]}…, signed {root.hex()[:16]}…",
                    )
                )
            if target.stored_root is not None and target.stored_root != root:
                found.append(
                    Tamper("ledger-store", None, f"{label}: the ledger's leaves disagree with it")
                )
        for root in target.heads:
            if target.stored_root != root:
                found.append(
                    Tamper("ledger-store", None, f"the stored tree head at size {size} disagrees with the leaves")
                )
    return found


def _against_frontier(head: TreeHead, leaves: MerkleFrontier) -> list[Tamper]:
    if head.size == _NO_LIMIT:
        return []  # already reported unreadable
    if leaves.size != head.size or leaves.root() != head.root_hash:
        return [
            Tamper(
                "ledger-store",
                None,
                f"the ledger's frontier (size {head.size}) disagrees with its leaves (size {leaves.size})",
            )
        ]
    return []


def _describe(content: Content) -> str:
    originator, version, topic, _ = content
    return f"{topic} v{version} of {originator}"


def _unhex(text: object) -> bytes:
    try:
        value = bytes.fromhex(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return b""
    return value
