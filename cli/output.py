"""Data to stdout, messages to stderr; `--json` prints exactly one document."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import click


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat().replace("+00:00", "Z")
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, UUID | Path):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return sorted(obj) if isinstance(obj, set | frozenset) else list(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(document: Any) -> str:
    return json.dumps(document, default=_default, indent=2, ensure_ascii=False)


def emit_json(document: Any) -> None:
    click.echo(dumps(document))


def note(message: str) -> None:
    """A message for the person at the terminal, never part of the data."""
    click.echo(message, err=True)


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    text_rows = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in text_rows
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value).replace("\n", " ")


def emit(document: Any, *, json_output: bool, human: Callable[[], str]) -> None:
    if json_output:
        emit_json(document)
    else:
        click.echo(human())


def is_interactive() -> bool:
    return sys.stderr.isatty()
