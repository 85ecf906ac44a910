"""The view-store port: where views and their tracking positions live.

A tracking row per view holds the log position the view has absorbed; it is
written in the same transaction as the view's rows, so a crash anywhere
leaves rows and position agreeing, and a restart neither skips nor repeats
an event. Implementations: `projections.sqlite`, `projections.postgres`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from opsledger.projections.schema import Table, Where


class Tracking(NamedTuple):
    position: int
    version: int
    # Identifies the rebuild that owns a shadow view; empty for live views.
    token: str = ""


class ViewWriter(ABC):
    """Everything a catch-up, rebuild or swap does inside one transaction.

    `physical` names are unqualified table names (a live table's name or its
    shadow's); the store adds its schema.
    """

    @abstractmethod
    def lock(self, keys: Sequence[str]) -> dict[str, Tracking]:
        """Tracking rows of `keys` (absent ones omitted), locked until the transaction ends."""

    @abstractmethod
    def set_tracking(self, entries: Mapping[str, Tracking]) -> None:
        """Writes the tracking rows (key -> position, version, token), in one statement."""

    @abstractmethod
    def drop_tracking(self, key: str) -> None: ...

    @abstractmethod
    def load(self, table: Table, physical: str, keys: Collection[Any]) -> list[tuple[Any, ...]]:
        """Rows whose (single-column) primary key is in `keys`."""

    @abstractmethod
    def insert(self, table: Table, physical: str, rows: Sequence[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    def upsert(self, table: Table, physical: str, rows: Sequence[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    def create_table(self, table: Table, physical: str) -> None:
        """A fresh, empty table (an old one of that name is dropped), without secondary indexes."""

    @abstractmethod
    def create_indexes(self, table: Table, physical: str, token: str) -> None: ...

    @abstractmethod
    def drop_table(self, physical: str) -> None: ...

    @abstractmethod
    def rename_table(self, physical: str, new_name: str) -> None: ...


class ViewStore(ABC):
    @abstractmethod
    def install(self, tables: Sequence[Table], versions: Mapping[str, int]) -> None:
        """Creates the tracking table, missing live tables (with indexes) and missing
        tracking rows (view name -> projection version) at position 0. Idempotent."""

    @abstractmethod
    def tracking(self) -> dict[str, Tracking]:
        """Every tracking row, unlocked."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[ViewWriter]:
        """One write transaction; committed when the block ends, rolled back on error."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside the block see one consistent state of the store."""

    @abstractmethod
    def select(
        self,
        table: Table,
        where: Sequence[Where] = (),
        order_by: Sequence[str] = (),
        limit: int | None = None,
        descending: bool = False,
    ) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def scan(self, table: Table) -> Iterator[tuple[Any, ...]]:
        """Every row of a live table in primary-key order, streamed."""

    def wait(self, timeout: float) -> None:
        """Blocks until new events may have been written or `timeout` passes.

        Polling by default; a store that can be told of new events returns early.
        """
        time.sleep(timeout)

    @abstractmethod
    def close(self) -> None: ...
