"""The shape every view has: tables, the topics it reads, and a pure `apply`.

`apply(fact, rows)` reads the view's current rows through `rows.get` and
states its changes through `rows.put`/`rows.append`; it never touches a store,
so the same logic runs in a catch-up batch, a rebuild and an in-memory replay.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from opsledger.projections.facts import Fact
from opsledger.projections.schema import Table


class Rows:
    """The rows one batch reads and changes, layered over what the store holds.

    `loaded` holds the decoded values read from the store before the batch;
    puts shadow them, so a fact sees the changes of the facts before it.
    """

    def __init__(self, loaded: Mapping[str, Mapping[Any, Any]] | None = None) -> None:
        self._loaded = loaded or {}
        self.changed: dict[str, dict[Any, Any]] = {}
        self.appended: dict[str, list[tuple[Any, ...]]] = {}

    def get(self, table: str, key: Any) -> Any:
        changed = self.changed.get(table)
        if changed is not None and key in changed:
            return changed[key]
        loaded = self._loaded.get(table)
        return None if loaded is None else loaded.get(key)

    def put(self, table: str, key: Any, value: Any) -> None:
        self.changed.setdefault(table, {})[key] = value

    def append(self, table: str, row: tuple[Any, ...]) -> None:
        self.appended.setdefault(table, []).append(row)

    def __bool__(self) -> bool:
        return bool(self.changed) or bool(self.appended)


class View(ABC):
    """A read model: a name, its tables and how each fact changes them."""

    name: ClassVar[str]
    # Bump when `apply` or the tables change: stored views of another version
    # must be rebuilt before they are read.
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

    @abstractmethod
    def wants(self, topic: str) -> bool:
        """Whether facts of this topic change the view (others only move its position)."""

    def needs(self, facts: Sequence[Fact]) -> Mapping[str, Iterable[Any]]:
        """Keys of stored rows that `apply` will read for these facts, fetched in one go."""
        return {}

    @abstractmethod
    def apply(self, fact: Fact, rows: Rows) -> None:
        """Records the fact's changes in `rows`."""

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)
