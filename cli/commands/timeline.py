"""`opsledger timeline KEY`: every event of a ticket in the order it was recorded."""

from __future__ import annotations

import click
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, table
from opsledger.cli.progress import ViewProgress
from opsledger.services.queries import ticket_timeline


@click.command("timeline")
@click.argument("key")
@json_option
@click.pass_obj
def timeline(obj, key: str, json_output: bool) -> None:
    """What happened on ticket KEY, in order: time, who, what, at which log position.

    Flag changes and shift steps recorded against the ticket are included.
    """
    with ViewProgress(enabled=not json_output) as progress:
        document = ticket_timeline(obj, key, signatures=json_output, progress=progress)
    entries = document["events"]
    emit(
        document,
        json_output=json_output,
        human=lambda: table(
            [(e["position"], e["at"], e["actor"], e["role"], e["kind"], e["summary"]) for e in entries],
            ["POSITION", "TIME (UTC)", "ACTOR", "ROLE", "KIND", "SUMMARY"],
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(timeline)
