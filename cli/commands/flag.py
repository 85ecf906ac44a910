"""`opsledger flag set|get`: feature flags such as live.enabled."""

from __future__ import annotations

import click
from opsledger.cli.errors import REFUSED
from opsledger.cli.options import actor_of, actor_option, json_option, redact_option, role_option
from opsledger.cli.output import emit, emit_json, note
from opsledger.domain.runbook import Role
from opsledger.services.flags import flag_value, set_flag


@click.group("flag")
def flag_group() -> None:
    """Record and read feature flag changes (one audit trail across tickets)."""


@flag_group.command("set")
@click.argument("name")
@click.argument("value")
@click.option("--reason", required=True, help="Why the flag changes (kept in the trail).")
@click.option("--ticket", metavar="KEY", help="The change ticket this change belongs to.")
@actor_option
@redact_option
@role_option(required=False)
@json_option
@click.pass_obj
def set_cmd(
    obj,
    name: str,
    value: str,
    reason: str,
    ticket: str | None,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Record that flag NAME is now VALUE (true/false for live.enabled)."""
    document = set_flag(
        obj,
        name,
        value=value,
        reason=reason,
        ticket=ticket,
        actor=actor_of(obj, actor_override),
        role=role,
    )
    old, new = document["old"], document["new"]
    emit(
        document,
        json_output=json_output,
        human=lambda: (
            f"{name}: {'unset' if old is None else old} -> {new}"  # as `flag history` says it
            if document["changed"]
            else f"{name}: already {new}, nothing recorded"
        ),
    )


@flag_group.command("get")
@click.argument("name")
@json_option
@click.pass_obj
def get_cmd(obj, name: str, json_output: bool) -> None:
    """Print the recorded value of flag NAME.

    A boolean flag (live.enabled; any flag set to true/false, on/off, yes/no)
    prints true or false; with --json its "value" is a JSON boolean, another
    flag's value a string.

    A flag never set prints nothing on stdout, says so on stderr and exits 1
    ("value": null with --json), so that `opsledger flag get NAME` in a script
    fails rather than reading "unset" as a value.
    """
    document = flag_value(obj, name)
    value = document["value"]
    if value is None:
        if json_output:
            emit_json(document)
        note(f"{name}: never set (no change of it is recorded)")
        raise click.exceptions.Exit(REFUSED)
    emit(document, json_output=json_output,
         human=lambda: str(value).lower() if isinstance(value, bool) else value)


def register(cli: click.Group) -> None:
    cli.add_command(flag_group)
