"""The read side: tickets, a ticket's timeline and a flag's history, from the
views caught up to the head of the log first (progress: each catch-up batch)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.services.views import ProgressCallback, fresh_reader

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def ticket_document(
    services: Services,
    key: str,
    *,
    as_of: datetime | None = None,
    at_position: int | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Ticket `key` as it stands; or, given `as_of`/`at_position`, as it stood
    then (its own events replayed up to that moment, from the timeline view)."""
    if as_of is None and at_position is None:
        return fresh_reader(services, ["tickets"], progress=progress).ticket(key)
    reader = fresh_reader(services, ["timeline"], progress=progress)
    return reader.ticket_as_of(key, position=at_position, at=as_of)


def ticket_rows(
    services: Services,
    *,
    status: str | None = None,
    strategy: str | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Every ticket with its status, environments and breach count, oldest first."""
    reader = fresh_reader(services, ["tickets"], progress=progress)
    return reader.tickets(status=status, strategy=strategy, limit=limit)


def ticket_timeline(
    services: Services, key: str, *, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Every event of ticket `key` (flag changes and shift steps included), in log order."""
    entries = fresh_reader(services, ["timeline"], progress=progress).timeline(key)
    return {"ticket": key, "events": entries}


def flag_history(
    services: Services, name: str, *, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Every recorded change of flag `name`, oldest first."""
    changes = fresh_reader(services, ["flags"], progress=progress).flag_history(name)
    return {"flag": name, "changes": changes}
