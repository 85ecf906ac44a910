"""`opsledger ticket open|close`: a change ticket's life."""

from __future__ import annotations

from datetime import date

import click

from cli.options import IsoDate, actor_of, actor_option, json_option, role_option
from cli.output import emit, note
from domain.runbook import Env, Role


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
@role_option(required=False)
@json_option
@click.pass_obj
def open_ticket(
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
    """Open change ticket KEY (e.g. CHG-2041) for a live session."""
    ticket_id = obj.app.open_ticket(
        key=key,
        strategy=strategy,
        env=Env(env),
        artifact_digest=artifact,
        actor=actor_of(obj, actor_override),
        role=role,
        title=title,
        session_date=session_date,
    )
    ticket = obj.app.get_ticket(key)
    emit(
        {
            "ticket": key,
            "id": ticket_id,
            "strategy": strategy,
            "env": env,
            "session_date": ticket.session_date,
        },
        json_output=json_output,
        human=lambda: f"opened {key} ({strategy}, {env}, session {ticket.session_date})",
    )


@ticket_group.command("close")
@click.argument("key")
@actor_option
@role_option(required=False)
@click.pass_obj
def close_ticket(obj, key: str, actor_override: str | None, role: Role | None) -> None:
    """Close ticket KEY; refused until its session archive is sealed and verified."""
    obj.app.close_ticket(key, actor=actor_of(obj, actor_override), role=role)
    note(f"closed {key}")


def register(cli: click.Group) -> None:
    cli.add_command(ticket_group)
