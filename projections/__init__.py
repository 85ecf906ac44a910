"""Read models of the event log: tickets, timeline, incidents and flag history.

Build a `Projector` over an `EventLog` and a view store (`projections.sqlite`
or `projections.postgres`), keep it caught up, and ask a `ViewReader`.
"""

from projections.catalog import VIEW_NAMES, all_views
from projections.errors import (
    InvalidQuery,
    NotInView,
    ProjectionError,
    RebuildSuperseded,
    UndecodableEvent,
    UnknownView,
    ViewOutdated,
    ViewStoreError,
)
from projections.export import render_sla_incidents
from projections.facts import EventLog, Fact
from projections.reader import IncidentQuery, ViewReader
from projections.runner import Progress, Projector, ViewDigest, ViewStatus
from projections.store import Tracking, ViewStore

__all__ = [
    "VIEW_NAMES",
    "EventLog",
    "Fact",
    "IncidentQuery",
    "InvalidQuery",
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
