"""`opsledger ticket open|close`: a change ticket's life."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from opsledger.cli.options import (
    IsoDate,
    actor_of,
    actor_option,
    json_option,
    redact_option,
    role_option,
    store_option,
)
from opsledger.cli.output import emit, note
from opsledger.domain.runbook import Env, Role
from opsledger.services.tickets import close_ticket, open_ticket


@click.group("ticket")
def ticket_group() -> None:
    """Open, inspect and close change tickets."""


@ticket_group.command("open")
@click.argument("key")
@click.option("--strategy", required=True, help="Strategy id, e.g. momo-1.")
@click.option(
    "--env",
    "env",
    type=click.Choice([e.value for e in Env]),
    default="prod",
    show_default=True,
    help="Target environment requested for the deploy.",
)
@click.option("--artifact", required=True, metavar="DIGEST", help="Artifact digest, sha256:<hex>.")
@click.option("--title", default="", help="One line describing the change.")
@click.option(
    "--session-date", type=IsoDate(), help="UTC date of the live session [default today]."
)
@actor_option
@redact_option
@role_option(required=False)
@json_option
@click.pass_obj
def open_cmd(
    obj,
    key: str,
    strategy: str,
    env: str,
    artifact: str,
    title: str,
    session_date: date | None,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Open change ticket KEY, such as CHG-2041, for a live session."""
    opened = open_ticket(
        obj,
        key,
        strategy=strategy,
        env=Env(env),
        artifact_digest=artifact,
        title=title,
        session_date=session_date,
        actor=actor_of(obj, actor_override),
        role=role,
    )
    emit(
        opened,
        json_output=json_output,
        human=lambda: f"opened {key} ({strategy}, {env}, session {opened['session_date']})",
    )


@ticket_group.command("close")
@click.argument("key")
@click.option(
    "--prune",
    is_flag=True,
    help="Remove the session folder, once the verified archive is known to hold it.",
)
@click.option(
    "--session-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The session folder to prune [default reports/live/<session date>/<ticket>/].",
)
@store_option
@actor_option
@role_option(required=False)
@click.pass_obj
def close_cmd(
    obj,
    key: str,
    prune: bool,
    session_dir: Path | None,
    store_uri: str | None,
    actor_override: str | None,
    role: Role | None,
) -> None:
    """Close ticket KEY; refused until its session archive is sealed and verified.

    With --prune the working folder is removed, but only after checking that
    every file in it is in the verified archive with the same SHA-256, so
    nothing recorded since the seal is lost.
    """
    close_ticket(
        obj,
        key,
        prune=prune,
        session_dir=session_dir,
        store_uri=store_uri,
        actor=actor_of(obj, actor_override),
        role=role,
        notify=note,
    )
    note(f"closed {key}")


def register(cli: click.Group) -> None:
    cli.add_command(ticket_group)
