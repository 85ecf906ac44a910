"""`opsledger projections status|catch-up|rebuild|digest`: the read models.

Read commands (ticket show/list, timeline, incidents, flag history) catch
their views up before answering through `fresh_reader`, defined here once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import click
from opsledger.cli.errors import EXTRA, INCOMPLETE, INVALID
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, is_interactive, note, table
from opsledger.projections import (
    VIEW_NAMES,
    InvalidQuery,
    NotInView,
    Progress,
    ProjectionError,
    UnknownView,
    ViewReader,
)

view_choice = click.Choice(list(VIEW_NAMES))


_last_shown = [0.0]


def _progress_line(progress: Progress) -> None:
    now = time.monotonic()
    if progress.phase in ("catch-up", "rebuild") and now - _last_shown[0] < 0.2:
        return  # a batch commits every few milliseconds; a terminal needs five lines a second
    _last_shown[0] = now
    views = ",".join(progress.views)
    if progress.phase in ("index", "swap"):
        text = f"{progress.phase}: {views}"
    else:
        share = 100 * progress.position // progress.head if progress.head else 100
        text = f"{progress.phase} {views}: {progress.position:,}/{progress.head:,} ({share}%)"
    sys.stderr.write(f"\r\033[K{text}")
    sys.stderr.flush()


def show_progress(obj, json_output: bool) -> bool:
    """Progress on a terminal only; silent under --json or when stderr is not a TTY."""
    shown = is_interactive() and not json_output
    obj.projector.progress = _progress_line if shown else None
    return shown


def _end_progress(shown: bool) -> None:
    if shown:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def fresh_reader(obj, views: Sequence[str], *, json_output: bool) -> ViewReader:
    """Catches the views up to the head of the log, then hands out a reader."""
    shown = show_progress(obj, json_output)
    try:
        obj.projector.refresh(views)
    finally:
        _end_progress(shown)
    return ViewReader(obj.projector.store, obj.projector.log)


@click.group("projections")
def projections_group() -> None:
    """Read models of the log (tickets, timeline, incidents, flags): status, catch-up, rebuild, digest."""


@projections_group.command("status")
@json_option
@click.pass_obj
def status(obj, json_output: bool) -> None:
    """Position of each view against the head of the log, and its lag."""
    rows = obj.projector.status()
    document = [
        {
            "view": s.name,
            "position": s.position,
            "head": s.head,
            "lag": s.lag,
            "built_version": s.built_version,
            "version": s.version,
            "outdated": s.outdated,
        }
        for s in rows
    ]
    emit(
        document,
        json_output=json_output,
        human=lambda: table(
            [
                (s.name, s.position, s.head, s.lag, "rebuild needed" if s.outdated else "ok")
                for s in rows
            ],
            ["VIEW", "POSITION", "HEAD", "LAG", "STATE"],
        ),
    )


@projections_group.command("catch-up")
@click.argument("names", nargs=-1, type=view_choice)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep the views live until interrupted (PostgreSQL: woken by LISTEN/NOTIFY; SQLite: polls).",
)
@click.option(
    "--idle",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="With --follow: seconds between checks when no notification arrives.",
)
@json_option
@click.pass_obj
def catch_up(obj, names: tuple[str, ...], follow: bool, idle: float, json_output: bool) -> None:
    """Apply the events not yet in the views (all views, or NAMES)."""
    shown = show_progress(obj, json_output)
    try:
        read = obj.projector.refresh(names or None)
        if follow:
            _end_progress(shown)
            if not json_output:
                note("opsledger: following the log; Ctrl-C to stop")
            obj.projector.follow(stop=lambda: False, idle=idle)
    finally:
        _end_progress(shown)
    statuses = obj.projector.status()
    emit(
        {"events": read, "views": {s.name: s.position for s in statuses}},
        json_output=json_output,
        human=lambda: f"caught up {read:,} events; views at position "
        + ", ".join(f"{s.name} {s.position}" for s in statuses),
    )


@projections_group.command("rebuild")
@click.argument("name", required=False, type=view_choice)
@json_option
@click.pass_obj
def rebuild(obj, name: str | None, json_output: bool) -> None:
    """Rebuild view NAME (or all) from the first event; swapped in at once, never half-built."""
    shown = show_progress(obj, json_output)
    try:
        read = obj.projector.rebuild([name] if name else None)
    finally:
        _end_progress(shown)
    rebuilt = [name] if name else list(VIEW_NAMES)
    emit(
        {"rebuilt": rebuilt, "events": read},
        json_output=json_output,
        human=lambda: f"rebuilt {', '.join(rebuilt)} from {read:,} events",
    )


@projections_group.command("digest")
@click.argument("names", nargs=-1, type=view_choice)
@click.option("--no-catch-up", is_flag=True, help="Digest the views as they are, without catching up first.")
@json_option
@click.pass_obj
def digest(obj, names: tuple[str, ...], no_catch_up: bool, json_output: bool) -> None:
    """sha256 of each view's content: a rebuild from zero must print the same."""
    if not no_catch_up:
        fresh_reader(obj, names or VIEW_NAMES, json_output=json_output)
    digests = obj.projector.digest(names or None)
    emit(
        {d.name: {"position": d.position, "rows": d.rows, "sha256": d.sha256} for d in digests},
        json_output=json_output,
        human=lambda: table(
            [(d.name, d.position, d.rows, d.sha256) for d in digests],
            ["VIEW", "POSITION", "ROWS", "SHA256"],
        ),
    )


def register(cli: click.Group) -> None:
    # Most specific first: the first matching type decides the exit code.
    for kind, code in (
        (InvalidQuery, INVALID),
        (UnknownView, INVALID),
        (NotInView, INVALID),
        (ProjectionError, INCOMPLETE),
    ):
        EXTRA.setdefault(kind, code)
    cli.add_command(projections_group)
