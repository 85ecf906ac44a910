"""Where a secret could start: the fast pass over every payload byte.

The scanner's cost on a clean payload is this module's cost, so it runs the
rules' triggers (``rules.TRIGGERS``) through Hyperscan, which matches
all of them in one pass over a block at several GB/s, and releases the GIL
while it does, so it overlaps the hashing and compression of the same bytes.
Only the ends of trigger matches come back; the scanner then runs the exact
rules around those few places.

Without Hyperscan (a platform it has no wheel for) the same job falls back
to the standard library: the block is lower-cased and searched for anchor
words (``rules.ANCHORS``) with ``bytes.find``, about twenty times
slower, with the same findings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from opsledger.archiver.secrets.rules import ANCHORS, TRIGGERS

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
    hyperscan = None


ANY_RULE = -1  # a hit that does not say which rule it is for: all of them run


class HitFinder(Protocol):
    name: str
    overlap: int  # bytes re-scanned across a seam between blocks, to find triggers cut by it

    def find(self, data: bytes | bytearray | memoryview, base: int,
             out: list[tuple[int, int]]) -> None:
        """Appends ``(end, rule)`` for every trigger match: its end offset
        (``base`` + end within ``data``) and the index of its rule in
        ``rules.RULES``, or ``ANY_RULE``."""


def _on_hit(rule: int, _start: int, end: int, _flags: int,
            ctx: tuple[list[tuple[int, int]], int]) -> None:
    ctx[0].append((ctx[1] + end, rule))


class HyperscanFinder:
    name = "hyperscan"

    def __init__(self) -> None:
        from opsledger.archiver.secrets.rules import MAX_TRIGGER

        self.overlap = MAX_TRIGGER
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=list(TRIGGERS), ids=list(range(len(TRIGGERS))),
                   flags=[0] * len(TRIGGERS))
        self._db = db
        # Scratch space may only be used by one scan at a time: one per thread.
        self._local = threading.local()

    def find(self, data: bytes | bytearray | memoryview, base: int,
             out: list[tuple[int, int]]) -> None:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        self._db.scan(data, match_event_handler=_on_hit, context=(out, base), scratch=scratch)


class AnchorFinder:
    name = "stdlib"
    overlap = max(len(word) for word in ANCHORS)

    def find(self, data: bytes | bytearray | memoryview, base: int,
             out: list[tuple[int, int]]) -> None:
        low = bytes(data).lower()
        for word in ANCHORS:
            at = low.find(word)
            while at != -1:
                out.append((base + at + len(word), ANY_RULE))
                at = low.find(word, at + 1)


_finders: dict[str, HitFinder] = {}
_lock = threading.Lock()
_FACTORIES: dict[str, Callable[[], HitFinder]] = {"stdlib": AnchorFinder}
if hyperscan is not None:
    _FACTORIES["hyperscan"] = HyperscanFinder


def available() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def finder(name: str | None = None) -> HitFinder:
    """The named engine, compiled once per process; by default the fastest installed."""
    name = name or ("hyperscan" if "hyperscan" in _FACTORIES else "stdlib")
    with _lock:
        found = _finders.get(name)
        if found is None:
            if name not in _FACTORIES:
                raise ValueError(f"secret scan engine {name!r} is not available here")
            found = _finders[name] = _FACTORIES[name]()
    return found
