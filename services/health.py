"""Is the service able to answer: the event store and the views can be read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsledger.services.views import view_status

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def readiness(services: Services) -> dict[str, Any]:
    """The log's head and each view's position (raises what the stores raise)."""
    head = services.log.recorder.max_notification_id() or 0
    views = {s.name: s.position for s in view_status(services)}
    return {"status": "ready", "head": head, "views": views}


def projection_lag(services: Services) -> dict[str, int]:
    """Events of the log each view has not applied yet."""
    return {s.name: s.lag for s in view_status(services)}
