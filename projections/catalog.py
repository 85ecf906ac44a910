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


def store_tables() -> tuple[str, ...]:
    """Every table a view store holds: the tracking table, each view's tables,
    the ledger's (tree and signed checkpoints, seals). What the application's
    role must be able to read and write on a hardened PostgreSQL."""
    from opsledger.projections.ledger import CHECKPOINTS, SEALS, LedgerView
    from opsledger.projections.relational import TRACKING

    views = (*all_views(), LedgerView())
    return (TRACKING, *(t.name for v in views for t in v.tables), CHECKPOINTS.name, SEALS.name)
