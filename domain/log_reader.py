"""The event store, read as stored: each event's topic and JSON fields, without
the domain's pydantic classes or use cases.

Reads that must start fast (`flag get`, the views' catch-up) use this rather
than `OpsLedger`, whose import builds every aggregate. It is the same store,
configured the same way (`MAPPER_ENV`, the application name that prefixes the
library's settings), so it reads exactly what `OpsLedger` wrote.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import Application
from opsledger.domain.flag_rules import flag_id, validate_flag_name
from opsledger.domain.persistence import MAPPER_ENV


class LogReader(Application):
    name = "OpsLedger"  # the same settings prefix (OPSLEDGER_CREATE_TABLE, ...) as OpsLedger
    env = dict(MAPPER_ENV)  # noqa: RUF012 - eventsourcing reads it as a class attribute

    def flag_value(self, name: str) -> str | None:
        """The recorded value of flag `name` (None if never set): the `new` of its
        last change, which is what replaying the flag would give."""
        validate_flag_name(name)
        last = self.recorder.select_events(flag_id(name), desc=True, limit=1)
        if not last:
            return None
        state: dict[str, Any] = self.mapper.stored_state(last[0])  # type: ignore[attr-defined]
        return state.get("new")
