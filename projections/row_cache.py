"""What a catch-up or a rebuild keeps in memory between its batches: the rows
it last wrote, and the cyclic garbage collector held off while a batch runs."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opsledger.projections.errors import RebuildSuperseded


@contextmanager
def collector_paused() -> Iterator[None]:
    """A batch allocates thousands of small containers, none of them in a cycle,
    so reference counting frees them all; the cyclic collector's passes over the
    row cache cost a fifth of a rebuild. Paused per batch, never left paused."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RowCache:
    """Keyed rows (tickets) this run holds in memory between its batches.

    Sessions interleave, so each batch touches the tickets the one before did;
    reading them back and decoding them every time was most of a catch-up.
    The cache is valid only while no one else writes the view, which the
    tracking position tells: `position` is where this run left it.

    A rebuild's shadow tables are private (a crashed rebuild is discarded, not
    resumed), so there the cache also defers writing: each ticket row is
    written when it leaves the cache or before the swap, not after every batch,
    and, since the shadow started empty and only this run writes it, a row it
    has never written nor read is known to be new: inserted, not upserted.
    """

    def __init__(self, *, write_behind: bool, capacity: int = 20_000) -> None:
        self.write_behind = write_behind
        self.capacity = capacity
        self.position: int | None = None
        self._values: dict[str, dict[Any, Any]] = {}
        self._dirty: dict[str, set[Any]] = {}
        self._stored: dict[str, set[Any]] = {}

    def clear(self) -> None:
        if any(self._dirty.values()):
            raise RebuildSuperseded("a rebuild's shadow view was changed by someone else")
        self._values.clear()
        self.position = None

    def discard(self) -> None:
        self._values.clear()
        self._dirty.clear()
        self._stored.clear()
        self.position = None

    def split_new(self, table: str, rows: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
        """(rows known to be absent from the table, the others); remembers all as stored."""
        if not self.write_behind:
            return [], list(rows.values())
        stored = self._stored.setdefault(table, set())
        new = [value for key, value in rows.items() if key not in stored]
        old = [value for key, value in rows.items() if key in stored] if len(new) < len(rows) else []
        stored.update(rows)
        return new, old

    def mark_stored(self, table: str, keys: Iterable[Any]) -> None:
        if self.write_behind:
            self._stored.setdefault(table, set()).update(keys)

    def take(self, table: str, keys: Iterable[Any]) -> tuple[dict[Any, Any], list[Any]]:
        values = self._values.get(table, {})
        found: dict[Any, Any] = {}
        missing: list[Any] = []
        for key in set(keys):
            if key in values:
                found[key] = values[key]
            else:
                missing.append(key)
        return found, missing

    def keep(self, table: str, changed: dict[Any, Any]) -> dict[Any, Any]:
        """Remembers changed rows; returns the rows to write in this transaction."""
        values = self._values.setdefault(table, {})
        dirty = self._dirty.setdefault(table, set())
        for key, value in changed.items():
            values.pop(key, None)  # re-inserted last: dicts keep insertion order
            values[key] = value
        to_write: dict[Any, Any] = {}
        if self.write_behind:
            dirty.update(changed)
        else:
            to_write.update(changed)
        while len(values) > self.capacity:
            key = next(iter(values))
            value = values.pop(key)
            if key in dirty:
                dirty.discard(key)
                to_write[key] = value
        return to_write

    def drain(self) -> dict[str, dict[Any, Any]]:
        """Every row not yet written, now to be written."""
        pending = {
            table: {key: self._values[table][key] for key in keys}
            for table, keys in self._dirty.items()
            if keys
        }
        self._dirty.clear()
        return pending
