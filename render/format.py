"""How recorded values read on a page: times, numbers, durations, the checks' rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def when(value: Any) -> str:
    """An ISO time as recorded (`2026-11-23T14:05:00.123456Z`) shown to the second,
    in UTC: the full value stays in the <time datetime> attribute."""
    if not value:
        return "—"
    text = str(value).replace("T", " ")
    if "." in text:
        text = text.split(".")[0]
    return text.removesuffix("Z").removesuffix("+00:00") + " UTC"


def number(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        shown = str(value)
    elif isinstance(value, int | float):
        shown = f"{value:.6g}"
    else:
        shown = str(value)
    return f"{shown} {unit}" if unit else shown


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:g} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours} h " if hours else "") + f"{minutes} min" + (f" {rest} s" if rest else "")


def yes_no(value: Any) -> str:
    return {True: "yes", False: "no", None: "—"}.get(value, str(value))


def flag_value(value: Any) -> str:
    return "unset" if value is None else str(value)


def check_rows(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The seven checks with the evidence attached to each and whether the
    ticket still counts it missing (the domain's word, not recomputed here)."""
    ticket = view["ticket"]
    evidence = ticket.get("evidence") or {}
    missing = ticket.get("missing_checks") or []
    rows = []
    for check in view["checks"]:
        name = check["check"]
        lacking = [m for m in missing if m == name or m.startswith(name + " ")]
        rows.append({**check, "evidence_items": list(evidence.get(name, [])),
                     "missing": lacking, "status": "missing" if lacking else "complete"})
    return rows


FILTERS = {"when": when, "number": number, "duration": duration, "yes_no": yes_no,
           "flag_value": flag_value}
