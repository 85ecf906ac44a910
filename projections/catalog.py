"""The views opsledger keeps, in the order they are listed and built."""

from __future__ import annotations

from opsledger.projections.flags import FlagsView
from opsledger.projections.incidents import IncidentsView
from opsledger.projections.tickets import TicketsView
from opsledger.projections.timeline import TimelineView
from opsledger.projections.view import View


def all_views() -> tuple[View, ...]:
    return (TicketsView(), TimelineView(), IncidentsView(), FlagsView())


VIEW_NAMES: tuple[str, ...] = tuple(v.name for v in all_views())
