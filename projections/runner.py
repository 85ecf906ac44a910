"""Catch-up, rebuild, status and digest: moving views along the event log.

Catch-up is pull-based (`select_notifications` in pages) so it works on every
store; each page is applied to every view in one transaction together with
the views' new positions. A rebuild fills shadow tables the same way and
swaps them in with one transaction, so readers see the old view or the new
one, never a half-built one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opsledger.domain.persistence import canonical_json
from opsledger.projections.catalog import all_views
from opsledger.projections.errors import (
    LogBehindViews,
    RebuildSuperseded,
    UnknownView,
    ViewOutdated,
)
from opsledger.projections.facts import EventLog, Fact
from opsledger.projections.row_cache import RowCache, collector_paused
from opsledger.projections.schema import Table
from opsledger.projections.store import Tracking, ViewStore, ViewWriter
from opsledger.projections.view import Rows, View

Phase = Literal["catch-up", "rebuild", "index", "swap"]
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class Progress:
    phase: Phase
    views: tuple[str, ...]
    position: int
    head: int
    events: int


@dataclass(frozen=True)
class ViewStatus:
    name: str
    position: int
    head: int
    built_version: int | None
    version: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)

    @property
    def outdated(self) -> bool:
        return self.built_version is not None and self.built_version != self.version


@dataclass(frozen=True)
class ViewDigest:
    name: str
    position: int
    rows: int
    sha256: str


@dataclass(frozen=True)
class _Target:
    """A view being written: live (tracked by its name) or a rebuild's shadow."""

    view: View
    key: str
    shadow: bool
    token: str = ""

    def physical(self, table: str) -> str:
        return self.view.table(table).shadow if self.shadow else table


class Projector:
    def __init__(
        self,
        log: EventLog,
        store: ViewStore,
        views: Sequence[View] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.log = log
        self.store = store
        self.views = tuple(views) if views is not None else all_views()
        self.batch_size = batch_size
        self.progress = progress
        self._installed = False
        self._wants: dict[tuple[str, str], bool] = {}

    # --- selection and setup -------------------------------------------------------------

    def select(self, names: Iterable[str] | None = None) -> tuple[View, ...]:
        if names is None:
            return self.views
        by_name = {v.name: v for v in self.views}
        chosen = []
        for name in names:
            if name not in by_name:
                raise UnknownView(f"no view named {name!r} (one of: {', '.join(by_name)})")
            chosen.append(by_name[name])
        return tuple(chosen)

    def install(self) -> None:
        if not self._installed:
            tables = [t for v in self.views for t in v.tables]
            self.store.install(tables, {v.name: v.version for v in self.views})
            self._installed = True

    def status(self) -> list[ViewStatus]:
        self.install()
        tracking = self.store.tracking()
        head = self.log.head()
        result = []
        for view in self.views:
            t = tracking.get(view.name)
            result.append(
                ViewStatus(view.name, t.position if t else 0, head, t.version if t else None, view.version)
            )
        return result

    # --- catch-up --------------------------------------------------------------------------

    def catch_up(self, names: Iterable[str] | None = None) -> int:
        """Applies every event up to the head seen now; returns how many were read."""
        views = self.select(names)
        self.install()
        tracking = self.store.tracking()
        for view in views:
            built = tracking[view.name].version
            if built != view.version:
                raise ViewOutdated(view.name, built, view.version)
        head = self.require_log_covers(tracking)
        targets = [_Target(v, v.name, shadow=False) for v in views]
        return self._run(targets, "catch-up", until=head)

    def require_log_covers(self, tracking: dict[str, Tracking] | None = None) -> int:
        """The head of the log, once it reaches as far as any view has read: a
        view ahead of the log was built from events the log no longer holds.
        (Tracking is read before the head: the head only grows meanwhile.)"""
        tracking = self.store.tracking() if tracking is None else tracking
        head = self.log.head()
        read = max((t.position for t in tracking.values()), default=0)
        if read > head:
            raise LogBehindViews(read, head)
        return head

    def refresh(self, names: Iterable[str] | None = None) -> int:
        """What read commands call: rebuilds views of an older version, then catches up."""
        views = self.select(names)
        self.install()
        self.require_log_covers()  # never rebuilt from a log shorter than they were
        outdated = [s.name for s in self.status() if s.outdated and s.name in {v.name for v in views}]
        if outdated:
            self.rebuild(outdated)
        return self.catch_up([v.name for v in views])

    def _run(
        self,
        targets: Sequence[_Target],
        phase: Phase,
        until: int,
        caches: dict[str, RowCache] | None = None,
    ) -> int:
        total = 0
        names = tuple(t.view.name for t in targets)
        if caches is None:
            caches = {t.key: RowCache(write_behind=False) for t in targets}
        while True:
            with self.store.transaction() as writer, collector_paused():
                read, position = self._step(writer, targets, until, caches)
            if read == 0:
                return total
            total += read
            if self.progress:
                self.progress(Progress(phase, names, position, max(until, position), total))
            if position >= until:
                return total

    def _step(
        self,
        writer: ViewWriter,
        targets: Sequence[_Target],
        until: int | None,
        caches: dict[str, RowCache],
    ) -> tuple[int, int]:
        """One page of the log into every target, inside the caller's transaction.

        Returns (events read, position reached). Each target skips the events it
        already holds, so views at different positions share one read.
        """
        try:
            return self._step_once(writer, targets, until, caches)
        except BaseException:
            # Values in the caches were changed in place by a batch that is now
            # rolled back: none of them can be trusted any more.
            for cache in caches.values():
                cache.discard()
            raise

    def _step_once(
        self,
        writer: ViewWriter,
        targets: Sequence[_Target],
        until: int | None,
        caches: dict[str, RowCache],
    ) -> tuple[int, int]:
        tracking = self._lock(writer, targets)
        after = min(tracking[t.key].position for t in targets)
        if until is not None and after >= until:
            return 0, after
        limit = self.batch_size if until is None else min(self.batch_size, until - after)
        facts = self.log.read(after, limit)
        if not facts:
            return 0, after
        last = facts[-1].position
        topics = {f.topic for f in facts}
        moved: dict[str, Tracking] = {}
        for t in targets:
            held = tracking[t.key]
            if held.position >= last:
                continue
            wanted = {topic for topic in topics if self._wanted(t.view, topic)}
            first = held.position
            mine = [f for f in facts if f.topic in wanted and f.position > first]
            cache = caches[t.key]
            if cache.position != held.position:
                cache.clear()  # someone else moved this view since our last batch
            if mine:
                self._apply(writer, t, mine, cache)
            moved[t.key] = Tracking(last, t.view.version, t.token)
            cache.position = last
        writer.set_tracking(moved)
        return len(facts), last

    @staticmethod
    def _lock(writer: ViewWriter, targets: Sequence[_Target]) -> dict[str, Tracking]:
        tracking = writer.lock([t.key for t in targets])
        for t in targets:
            if t.shadow and tracking.get(t.key, Tracking(0, 0)).token != t.token:
                raise RebuildSuperseded(
                    f"another rebuild of view {t.view.name} started and replaced this one"
                )
        return tracking

    def _wanted(self, view: View, topic: str) -> bool:
        key = (view.name, topic)
        wanted = self._wants.get(key)
        if wanted is None:
            wanted = self._wants[key] = view.wants(topic)
        return wanted

    def _apply(
        self, writer: ViewWriter, target: _Target, facts: Sequence[Fact], cache: RowCache
    ) -> None:
        view = target.view
        loaded: dict[str, dict[Any, Any]] = {}
        for name, keys in view.needs(facts).items():
            table = view.table(name)
            found, missing = cache.take(name, keys)
            if missing:
                decode = table.decode or (lambda row: row)
                (key_column,) = table.key
                at = table.column_names.index(key_column)
                stored = writer.load(table, target.physical(name), missing)
                for row in stored:
                    found[row[at]] = decode(row)
                cache.mark_stored(name, (row[at] for row in stored))
            loaded[name] = found
        rows = Rows(loaded)
        for fact in facts:
            view.apply(fact, rows)
        for table in view.tables:
            physical = target.physical(table.name)
            appended = rows.appended.get(table.name)
            if appended:
                writer.insert(table, physical, appended)
            changed = rows.changed.get(table.name)
            if changed:
                self._write(writer, table, physical, cache.keep(table.name, changed), cache)

    @staticmethod
    def _write(
        writer: ViewWriter, table: Table, physical: str, values: dict[Any, Any], cache: RowCache
    ) -> None:
        if values:
            encode = table.encode or (lambda value: value)
            new, old = cache.split_new(table.name, values)
            if new:
                writer.insert(table, physical, [encode(v) for v in new])
            if old:
                writer.upsert(table, physical, [encode(v) for v in old])

    def _flush(
        self, writer: ViewWriter, targets: Sequence[_Target], caches: dict[str, RowCache]
    ) -> None:
        for t in targets:
            cache = caches[t.key]
            for name, values in cache.drain().items():
                self._write(writer, t.view.table(name), t.physical(name), values, cache)

    # --- rebuild ------------------------------------------------------------------------------

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Builds the views afresh from position zero and swaps them in atomically."""
        views = self.select(names)
        self.install()
        token = secrets.token_hex(4)
        targets = [_Target(v, f"{v.name}~rebuild", shadow=True, token=token) for v in views]
        with self.store.transaction() as writer:
            for t in targets:
                for table in t.view.tables:
                    writer.create_table(table, table.shadow)
                writer.set_tracking({t.key: Tracking(0, t.view.version, token)})
        caches = {t.key: RowCache(write_behind=True) for t in targets}
        total = self._run(targets, "rebuild", self.log.head(), caches)
        # Bulk first, indexes after: a fresh index is built faster than maintained.
        with self.store.transaction() as writer:
            self._lock(writer, targets)
            self._flush(writer, targets, caches)
            for t in targets:
                for table in t.view.tables:
                    writer.create_indexes(table, table.shadow, token)
        if self.progress:
            self.progress(Progress("index", tuple(v.name for v in views), 0, 0, total))
        with self.store.transaction() as writer:
            # Live rows first: a concurrent catch-up of these views waits for the swap.
            writer.lock([v.name for v in views])
            while True:  # events written meanwhile: in the shadow before anyone sees it
                read, _ = self._step(writer, targets, None, caches)
                if read == 0:
                    break
                total += read
            self._flush(writer, targets, caches)
            shadows = self._lock(writer, targets)
            for t in targets:
                for table in t.view.tables:
                    writer.drop_table(table.name)
                    writer.rename_table(table.shadow, table.name)
                writer.set_tracking({t.view.name: Tracking(shadows[t.key].position, t.view.version)})
                writer.drop_tracking(t.key)
        if self.progress:
            position = max((s.position for s in self.status()), default=0)
            self.progress(Progress("swap", tuple(v.name for v in views), position, position, total))
        return total

    # --- determinism ---------------------------------------------------------------------------

    def digest(self, names: Iterable[str] | None = None) -> list[ViewDigest]:
        """sha256 per view over its tables' rows in key order, as canonical JSON lines
        (each non-empty table's rows after a line naming it)."""
        views = self.select(names)
        self.install()
        result = []
        with self.store.snapshot():
            tracking = self.store.tracking()
            for view in views:
                h = hashlib.sha256()
                count = 0
                for table in view.tables:
                    # An empty table adds nothing: a table added to a view later
                    # leaves the digest of a log that never fills it unchanged.
                    header = f"table {table.name}\n".encode()
                    for row in self.store.scan(table):
                        h.update(header)
                        header = b""
                        h.update(canonical_json(list(row)))
                        h.update(b"\n")
                        count += 1
                result.append(ViewDigest(view.name, tracking[view.name].position, count, h.hexdigest()))
        return result

    # --- live -------------------------------------------------------------------------------------

    def follow(self, stop: Callable[[], bool], idle: float = 1.0) -> None:
        """Keeps the views caught up until `stop()` is true."""
        self.store.wait(0)  # starts listening before the first catch-up, so nothing slips by
        while not stop():
            self.catch_up()
            self.store.wait(idle)
