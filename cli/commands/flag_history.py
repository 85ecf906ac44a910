"""`opsledger flag history NAME`: who flipped a flag, when, why, for which ticket."""

from __future__ import annotations

import click
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, table
from opsledger.cli.progress import ViewProgress


@click.command("history")
@click.argument("name")
@json_option
@click.pass_obj
def history(obj, name: str, json_output: bool) -> None:
    """Every recorded change of flag NAME (e.g. live.enabled), oldest first."""
    # Imported here: loading the `flag` group for `flag get` must not load the views.
    from opsledger.services.queries import flag_history

    with ViewProgress(enabled=not json_output) as progress:
        document = flag_history(obj, name, progress=progress)
    changes = document["changes"]
    emit(
        document,
        json_output=json_output,
        human=lambda: table(
            [(c["position"], c["at"], f"{c['old'] or 'unset'} -> {c['new']}", c["actor"], c["role"],
              c["ticket"], c["reason"]) for c in changes],
            ["POSITION", "TIME (UTC)", "CHANGE", "ACTOR", "ROLE", "TICKET", "REASON"],
        )
        if changes
        else f"{name}: no change recorded",
    )


def register(cli: click.Group) -> None:
    """Adds history to the `flag` group (set/get live in cli/commands/flag.py)."""
    group = cli.commands.get("flag")
    if not isinstance(group, click.Group):
        raise RuntimeError("register cli.commands.flag before cli.commands.flag_history")
    group.add_command(history)
