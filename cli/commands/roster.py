"""`opsledger roster init|grant|revoke|show|history|audit`: who holds which role.

Authority comes from here, not from `--role`: evidence, approvals and the
launch and halt scripts ask the roster when they are recorded. The roster is
itself a record of events, so every grant and revocation is audited.
"""

from __future__ import annotations

import click
from opsledger.cli.options import actor_of, actor_option, json_option
from opsledger.cli.output import emit, table
from opsledger.domain.runbook import Role
from opsledger.services.roster import (
    RoleChange,
    audit_roster,
    found_roster,
    grant_roles,
    revoke_roles,
    roster_history,
    roster_holdings,
)

role_choice = click.Choice([r.value for r in Role])
reason_option = click.option(
    "--reason", required=True, help="Why, for the record (a ticket, a rota change)."
)


@click.group("roster")
def roster_group() -> None:
    """Who holds which runbook role, granted and revoked by an administrator."""


@roster_group.command("init")
@click.option(
    "--admin",
    metavar="NAME",
    help="The first administrator (default: the acting person).",
)
@click.option("--reason", default="roster founded", show_default=True, help="For the record.")
@actor_option
@click.pass_obj
def init(obj, admin: str | None, reason: str, actor_override: str | None) -> None:
    """Found the roster, once, naming its first administrator.

    Until then nobody holds a role, so no evidence, approval or script can be
    recorded. The administrator cannot grant roles to themselves: name a
    second administrator before giving the first a runbook role.
    """
    actor = actor_of(obj, actor_override)
    administrator = found_roster(obj, administrator=admin or actor, actor=actor, reason=reason)
    click.echo(f"roster founded; {administrator} is its administrator")


def _echo_change(done: str, unchanged: str):
    def echo(change: RoleChange) -> None:
        role = change.role.value
        if change.recorded:
            click.echo(f"{change.person}: {role} {done} by {change.actor}")
        else:
            click.echo(f"{change.person}: {unchanged} {role}; nothing recorded")

    return echo


@roster_group.command("grant")
@click.argument("person")
@click.argument("roles", nargs=-1, required=True, type=role_choice, metavar="ROLE...")
@reason_option
@actor_option
@click.pass_obj
def grant(obj, person: str, roles: tuple[str, ...], reason: str, actor_override: str | None) -> None:
    """Grant PERSON one or more ROLEs (administrators only, never to themselves)."""
    grant_roles(obj, person, [Role(r) for r in roles], actor=actor_of(obj, actor_override),
                reason=reason, progress=_echo_change("granted", "already holds"))


@roster_group.command("revoke")
@click.argument("person")
@click.argument("roles", nargs=-1, required=True, type=role_choice, metavar="ROLE...")
@reason_option
@actor_option
@click.pass_obj
def revoke(
    obj, person: str, roles: tuple[str, ...], reason: str, actor_override: str | None
) -> None:
    """Revoke ROLEs from PERSON; what they recorded before stands."""
    revoke_roles(obj, person, [Role(r) for r in roles], actor=actor_of(obj, actor_override),
                 reason=reason, progress=_echo_change("revoked", "does not hold"))


@roster_group.command("show")
@click.option(
    "--at-version",
    type=click.IntRange(min=1),
    help="The roster as it stood at this version (an event's roster_version).",
)
@json_option
@click.pass_obj
def show(obj, at_version: int | None, json_output: bool) -> None:
    """Who holds which role, now or at a past version."""
    doc = roster_holdings(obj, at_version)
    if at_version is not None and doc["version"] != at_version:
        raise click.BadParameter(
            f"the roster has only {doc['version']} versions", param_hint="--at-version"
        )
    emit(
        doc,
        json_output=json_output,
        human=lambda: table(
            [(person, ", ".join(roles)) for person, roles in doc["people"].items()],
            ["PERSON", "ROLES"],
        )
        + f"\n(roster version {doc['version']})",
    )


@roster_group.command("history")
@json_option
@click.pass_obj
def history(obj, json_output: bool) -> None:
    """Every roster change, oldest first: who granted or revoked what, and why."""
    rows = roster_history(obj)
    emit(
        rows,
        json_output=json_output,
        human=lambda: table(
            [(r["version"], r["at"].isoformat(timespec="seconds").replace("+00:00", "Z"),
              r["change"], r["person"], str(r["role"]), r["actor"], r["reason"]) for r in rows],
            ["VERSION", "TIME (UTC)", "CHANGE", "PERSON", "ROLE", "BY", "REASON"],
        ),
    )


@roster_group.command("audit")
@json_option
@click.pass_obj
def audit(obj, json_output: bool) -> None:
    """Replay every evidence, approval and script event against the roster as it
    stood then. Exit 1 when any event was not allowed by the roster it names."""
    doc = audit_roster(obj)
    findings = doc["findings"]
    emit(
        doc,
        json_output=json_output,
        human=lambda: "\n".join(
            [f"{doc['checked']} roster-checked events replayed: "
             + ("all allowed by the roster they name" if not findings
                else f"{len(findings)} not allowed")]
            + [f"  position {f['position']} {f['ticket']} {f['event']} by {f['actor']} "
               f"({f['role']}): {f['problem']}" for f in findings]
        ),
    )
    if findings:
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(roster_group)
