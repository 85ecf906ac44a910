"""Read models of the event log: tickets, timeline, incidents and flag history.

Build a `Projector` over an `EventLog` and a view store (`projections.sqlite`
or `projections.postgres`), keep it caught up, and ask a `ViewReader`.
"""

from opsledger.projections.catalog import VIEW_NAMES, all_views
from opsledger.projections.errors import (
    InvalidQuery,
    LogBehindViews,
    NotInView,
    ProjectionError,
    RebuildSuperseded,
    UndecodableEvent,
    UnknownView,
    ViewOutdated,
    ViewStoreError,
)
from opsledger.projections.export import render_sla_incidents
from opsledger.projections.facts import EventLog, Fact
from opsledger.projections.reader import IncidentQuery, ViewReader
from opsledger.projections.runner import Progress, Projector, ViewDigest, ViewStatus
from opsledger.projections.store import Tracking, ViewStore

__all__ = [
    "VIEW_NAMES",
    "EventLog",
    "Fact",
    "IncidentQuery",
    "InvalidQuery",
    "LogBehindViews",
    "NotInView",
    "ProjectionError",
    "Progress",
    "Projector",
    "RebuildSuperseded",
    "Tracking",
    "UndecodableEvent",
    "UnknownView",
    "ViewDigest",
    "ViewOutdated",
    "ViewReader",
    "ViewStatus",
    "ViewStore",
    "ViewStoreError",
    "all_views",
    "render_sla_incidents",
]
