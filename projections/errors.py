"""Projection errors: what went wrong while building or reading a view.

Each message is one line a person can act on; the CLI maps the types to
exit codes, this package never decides them.
"""

from __future__ import annotations


class ProjectionError(Exception):
    """Base of every error raised by `projections`."""


class ViewStoreError(ProjectionError):
    """The view store could not be opened, read or written."""


class IntegrityCheckNotRun(ProjectionError):
    """The store's integrity check could not be carried out: no verdict either way."""


class UnknownView(ProjectionError):
    """A view name that is not one of the projections."""


class InvalidQuery(ProjectionError):
    """A filter value is malformed or contradictory (e.g. --since after --until)."""


class NotInView(ProjectionError):
    """The ticket (or flag) asked for has no events in the log (at that moment)."""


class UndecodableEvent(ProjectionError):
    """A stored event cannot be read as JSON; the view stops before it."""

    def __init__(self, position: int | None, topic: str, reason: str) -> None:
        where = f"position {position}" if position is not None else "an event"
        super().__init__(f"cannot decode {where} ({topic}): {reason}")
        self.position = position
        self.topic = topic


class ViewOutdated(ProjectionError):
    """A view was built by an older version of its projection logic."""

    def __init__(self, view: str, built: int, current: int) -> None:
        super().__init__(
            f"view {view} was built by projection version {built}, this code is version "
            f"{current}: run 'opsledger projections rebuild {view}'"
        )
        self.view = view


class RebuildSuperseded(ProjectionError):
    """Another rebuild of the same view started and took over its shadow tables."""


class LogBehindViews(ProjectionError):
    """The views have read further than the event log now reaches: the log was
    truncated, deleted or replaced by an older copy since they were built."""

    def __init__(self, views_position: int | None, log_head: int) -> None:
        where = ("the log is gone while the views built from it remain"
                 if views_position is None else
                 f"they were built to position {views_position}, the log ends at {log_head} "
                 "(truncated, deleted or replaced by an older copy?)")
        super().__init__(
            f"the event log is behind the views: {where}; not answering from them: "
            "restore the event log, then 'opsledger ledger verify'"
        )
        self.views_position = views_position
        self.log_head = log_head
