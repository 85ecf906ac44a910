"""Reading the record: the views, caught up to the head of the log first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from opsledger.projections import VIEW_NAMES as VIEW_NAMES  # re-exported: the doors' choices
from opsledger.projections import Progress, ViewDigest, ViewReader, ViewStatus

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

ProgressCallback = Callable[[Progress], None]


def fresh_reader(
    services: Services, views: Sequence[str], *, progress: ProgressCallback | None = None
) -> ViewReader:
    """Catches the views up to the head of the log, then hands out a reader."""
    catch_up_views(services, views, progress=progress)
    return ViewReader(services.projector.store, services.projector.log)


def view_status(services: Services) -> list[ViewStatus]:
    """Position of each view against the head of the log."""
    return services.projector.status()


def catch_up_views(
    services: Services, names: Sequence[str] | None, *, progress: ProgressCallback | None = None
) -> int:
    """Applies the events not yet in the views; returns how many were read."""
    projector = services.projector
    projector.progress = progress
    try:
        return projector.refresh(names)
    finally:
        projector.progress = None


def follow_views(services: Services, *, idle: float) -> None:
    """Keeps the views live until interrupted."""
    services.projector.follow(stop=lambda: False, idle=idle)


def rebuild_views(
    services: Services, names: Sequence[str] | None, *, progress: ProgressCallback | None = None
) -> int:
    """Rebuilds views from the first event, swapped in at once; returns events read."""
    projector = services.projector
    projector.progress = progress
    try:
        return projector.rebuild(names)
    finally:
        projector.progress = None


def view_digests(services: Services, names: Sequence[str] | None) -> list[ViewDigest]:
    """sha256 of each view's content: a rebuild from zero must give the same."""
    return services.projector.digest(names)
