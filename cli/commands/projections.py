"""`opsledger projections status|catch-up|rebuild|digest`: the read models.

Read commands (ticket show/list, timeline, incidents, flag history) catch
their views up before answering (`opsledger.services.views.fresh_reader`).
"""

from __future__ import annotations

import click
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, note, table
from opsledger.cli.progress import ViewProgress, read_views
from opsledger.services.views import (
    VIEW_NAMES,
    catch_up_views,
    follow_views,
    rebuild_views,
    view_digests,
    view_status,
)

view_choice = click.Choice(list(VIEW_NAMES))


@click.group("projections")
def projections_group() -> None:
    """Read models of the log (tickets, timeline, incidents, flags): status, catch-up, rebuild, digest."""


@projections_group.command("status")
@json_option
@click.pass_obj
def status(obj, json_output: bool) -> None:
    """Position of each view against the head of the log, and its lag."""
    rows = view_status(obj)
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
    with ViewProgress(enabled=not json_output) as progress:
        read = catch_up_views(obj, names or None, progress=progress)
    if follow:
        if not json_output:
            note("opsledger: following the log; Ctrl-C to stop")
        follow_views(obj, idle=idle)
    statuses = view_status(obj)
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
    with ViewProgress(enabled=not json_output) as progress:
        read = rebuild_views(obj, [name] if name else None, progress=progress)
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
        read_views(obj, names or VIEW_NAMES, json_output=json_output)
    digests = view_digests(obj, names or None)
    emit(
        {d.name: {"position": d.position, "rows": d.rows, "sha256": d.sha256} for d in digests},
        json_output=json_output,
        human=lambda: table(
            [(d.name, d.position, d.rows, d.sha256) for d in digests],
            ["VIEW", "POSITION", "ROWS", "SHA256"],
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(projections_group)
