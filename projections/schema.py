"""Tables of the views, described once and turned into SQL for each store.

Both stores hold the same column types (text, 64-bit integers, doubles; JSON
as canonical text; booleans as 0/1) so that a row reads back identically from
SQLite and PostgreSQL and the view digests agree across stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opsledger.projections.errors import InvalidQuery

ColumnType = Literal["text", "int", "real"]
Op = Literal["=", "<", "<=", ">", ">="]
OPS: frozenset[str] = frozenset(("=", "<", "<=", ">", ">="))

SHADOW_SUFFIX = "__rebuild"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """One table of a view.

    `append_only` tables get one new row per fact (keyed by position) and are
    written with plain inserts (COPY on PostgreSQL); others are upserted by key.
    `encode`/`decode` turn a view's in-memory value into a row and back; the
    default is the row tuple itself.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    append_only: bool = False
    encode: Callable[[Any], tuple[Any, ...]] | None = field(default=None, compare=False)
    decode: Callable[[tuple[Any, ...]], Any] | None = field(default=None, compare=False)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def shadow(self) -> str:
        return self.name + SHADOW_SUFFIX

    def check_column(self, name: str) -> str:
        if name not in self.column_names:
            raise InvalidQuery(f"{self.name} has no column {name!r}")
        return name


Where = tuple[str, str, Any]


@dataclass(frozen=True)
class Dialect:
    """How one store spells parameters and types; everything else is shared SQL."""

    placeholder: str
    types: dict[str, str]

    def create_table(self, table: Table, physical: str) -> str:
        cols = ", ".join(
            f"{q(c.name)} {self.types[c.type]}{'' if c.nullable else ' NOT NULL'}"
            for c in table.columns
        )
        return f"CREATE TABLE {physical} ({cols}, PRIMARY KEY ({names(table.key)}))"

    def create_index(
        self, table: Table, physical: str, columns: Sequence[str], name: str
    ) -> str:
        return f"CREATE INDEX {q(name)} ON {physical} ({names(columns)})"

    def insert(self, table: Table, physical: str) -> str:
        marks = ", ".join(self.placeholder for _ in table.columns)
        return f"INSERT INTO {physical} ({names(table.column_names)}) VALUES ({marks})"

    def upsert(self, table: Table, physical: str) -> str:
        rest = [c for c in table.column_names if c not in table.key]
        update = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in rest)
        action = f"DO UPDATE SET {update}" if rest else "DO NOTHING"
        return f"{self.insert(table, physical)} ON CONFLICT ({names(table.key)}) {action}"

    def select(
        self,
        table: Table,
        physical: str,
        where: Sequence[Where] = (),
        order_by: Sequence[str] = (),
        limit: int | None = None,
        descending: bool = False,
    ) -> tuple[str, list[Any]]:
        sql = f"SELECT {names(table.column_names)} FROM {physical}"
        params: list[Any] = []
        clauses = []
        for column, op, value in where:
            table.check_column(column)
            if op not in OPS:
                raise InvalidQuery(f"unsupported comparison {op!r}")
            if value is None and op == "=":
                clauses.append(f"{q(column)} IS NULL")
                continue
            clauses.append(f"{q(column)} {op} {self.placeholder}")
            params.append(value)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        order = [table.check_column(c) for c in (order_by or table.key)]
        direction = " DESC" if descending else ""
        sql += " ORDER BY " + ", ".join(f"{q(c)}{direction}" for c in order)
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sql, params


def q(identifier: str) -> str:
    """Quoted, so that column names such as position, old and new are never keywords.

    Identifiers come from the table definitions in this package, never from input.
    """
    return f'"{identifier}"'


def names(identifiers: Sequence[str]) -> str:
    return ", ".join(q(i) for i in identifiers)


def index_name(table: Table, position: int, token: str) -> str:
    """Index names carry the build's token: SQLite cannot rename an index, so the
    indexes of a swapped-in shadow table keep theirs and a later build must not clash."""
    return f"ix_{table.name}_{position}_{token}"
