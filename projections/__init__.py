"""Read models of the event log: tickets, timeline, incidents and flag history.

Build a `Projector` over an `EventLog` and a view store (`projections.sqlite`
or `projections.postgres`), keep it caught up, and ask a `ViewReader`.

Each name is imported from its module when first asked for (PEP 562): an
error type or the reader does not import every view and exporter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "VIEW_NAMES": "catalog",
    "all_views": "catalog",
    "InvalidQuery": "errors",
    "LogBehindViews": "errors",
    "NotInView": "errors",
    "ProjectionError": "errors",
    "RebuildSuperseded": "errors",
    "UndecodableEvent": "errors",
    "UnknownView": "errors",
    "ViewOutdated": "errors",
    "ViewStoreError": "errors",
    "render_sla_incidents": "export",
    "EventLog": "facts",
    "Fact": "facts",
    "IncidentQuery": "reader",
    "ViewReader": "reader",
    "Progress": "runner",
    "Projector": "runner",
    "ViewDigest": "runner",
    "ViewStatus": "runner",
    "Tracking": "store",
    "ViewStore": "store",
}

__all__ = [
    "EventLog",
    "Fact",
    "IncidentQuery",
    "InvalidQuery",
    "LogBehindViews",
    "NotInView",
    "Progress",
    "ProjectionError",
    "Projector",
    "RebuildSuperseded",
    "Tracking",
    "UndecodableEvent",
    "UnknownView",
    "VIEW_NAMES",
    "ViewDigest",
    "ViewOutdated",
    "ViewReader",
    "ViewStatus",
    "ViewStore",
    "ViewStoreError",
    "all_views",
    "render_sla_incidents",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
