"""The views opsledger keeps, in the order they are listed and built."""

from __future__ import annotations

from projections.flags import FlagsView
from projections.incidents import IncidentsView
from projections.tickets import TicketsView
from projections.timeline import TimelineView
from projections.view import View


def all_views() -> tuple[View, ...]:
    return (TicketsView(), TimelineView(), IncidentsView(), FlagsView())


VIEW_NAMES: tuple[str, ...] = tuple(v.name for v in all_views())
