"""The flags view: per flag, every change with who, why, for which ticket, when."""

from __future__ import annotations

from typing import ClassVar

from opsledger.projections.facts import Fact, micros
from opsledger.projections.schema import Column, Table
from opsledger.projections.view import Rows, View

CHANGED = "opsledger.flag.Changed"
TABLE = "view_flag_changes"

COLUMNS = (
    Column("position", "int", nullable=False),
    Column("flag", "text", nullable=False),
    Column("version", "int", nullable=False),
    Column("old", "text"),
    Column("new", "text", nullable=False),
    Column("actor", "text", nullable=False),
    Column("role", "text"),
    Column("reason", "text", nullable=False),
    Column("ticket", "text"),
    Column("at", "int", nullable=False),
)


class FlagsView(View):
    name: ClassVar[str] = "flags"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (
        Table(TABLE, COLUMNS, key=("position",), indexes=(("flag", "position"),), append_only=True),
    )

    def wants(self, topic: str) -> bool:
        return topic == CHANGED

    def apply(self, fact: Fact, rows: Rows) -> None:
        d = fact.data
        rows.append(
            TABLE,
            (
                fact.position,
                d["name"],
                fact.version,
                d.get("old"),
                d["new"],
                d["actor"],
                d.get("role"),
                d["reason"],
                d.get("ticket"),
                micros(d["timestamp"]),
            ),
        )
