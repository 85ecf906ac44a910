"""What a feature flag accepts: its name and its values (booleans stored as
true/false). Plain functions, without the aggregate's pydantic events, so that
reading a flag starts fast."""

from __future__ import annotations

import re
from uuid import UUID

from opsledger.domain.errors import InvalidInput
from opsledger.domain.ids import derive_id
from opsledger.domain.runbook import LIVE_FLAG
from opsledger.domain.ticket.inputs import validate_text

FLAG_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,127}$")
_TRUE = {"true", "on", "1", "yes", "enabled"}
_FALSE = {"false", "off", "0", "no", "disabled"}


def flag_id(name: str) -> UUID:
    return derive_id("flag", name)


def validate_flag_name(name: str) -> str:
    if not isinstance(name, str) or not FLAG_NAME.fullmatch(name):
        raise InvalidInput(repr(name), "not a flag name (lowercase, e.g. live.enabled)")
    return name


def normalise_value(name: str, value: str) -> str:
    """Booleans are stored as true/false so that every reader agrees on them."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return "true"
    if lowered in _FALSE:
        return "false"
    if name == LIVE_FLAG:
        raise InvalidInput(name, f"{name} is true or false, not {value!r}")
    return validate_text(name, "flag value", value.strip(), limit=500)


def as_bool(value: str | None) -> bool | None:
    return None if value is None else value == "true"
