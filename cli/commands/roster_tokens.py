"""`opsledger roster token issue|list|revoke`: bearer tokens for `opsledger serve`.

An administrator issues a token to a person or a service account (a roster
name holding a role and no SSH key, e.g. `alertmanager`); it is printed once
and recorded only as its SHA-256, with its holder, scopes and expiry.
"""

from __future__ import annotations

import click
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, table
from opsledger.domain.tokens import Scope
from opsledger.services.tokens import issue_token, list_tokens, parse_lifetime, revoke_token


@click.group("token")
def token_group() -> None:
    """Bearer tokens for the HTTP service (opsledger serve), issued by an administrator."""


@token_group.command("issue")
@click.argument("holder")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice([s.value for s in Scope]),
              help="read (the API and pages), alerts (Alertmanager's webhook), act (submit "
              "actions signed with the holder's own key). Repeat for several.")
@click.option("--expires", default="90d", show_default=True, metavar="N[h|d|w]",
              help="Lifetime, at most 400d.")
@click.option("--service-account", is_flag=True,
              help="HOLDER is a service account (holds a role and no SSH key; never 'act').")
@click.option("--reason", default="API access", show_default=True, help="For the record.")
@click.pass_obj
def issue(obj, holder: str, scopes: tuple[str, ...], expires: str, service_account: bool,
          reason: str) -> None:
    """Issue a token to HOLDER; it is printed once (stdout) and never stored."""
    issued = issue_token(obj, holder, list(scopes), lifetime=parse_lifetime(expires),
                         service_account=service_account, reason=reason)
    when = issued.expires_at.isoformat().replace("+00:00", "Z")
    click.echo(f"token {issued.token_id} for {holder} ({', '.join(issued.scopes)}), expires "
               f"{when}; shown once, keep it now:", err=True)
    click.echo(issued.token)


@token_group.command("list")
@json_option
@click.pass_obj
def list_command(obj, json_output: bool) -> None:
    """Every token issued: id, holder, scopes, expiry, state (never a secret)."""
    rows = list_tokens(obj)

    def when(moment) -> str:
        return "" if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")

    emit({"tokens": rows}, json_output=json_output, human=lambda: table(
        [(r["id"], r["holder"], r["account"], ",".join(r["scopes"]), when(r["expires_at"]),
          r["state"], r["issued_by"]) for r in rows],
        ["ID", "HOLDER", "ACCOUNT", "SCOPES", "EXPIRES", "STATE", "ISSUED BY"]))


@token_group.command("revoke")
@click.argument("token_id", metavar="ID")
@click.option("--reason", default="revoked", show_default=True, help="For the record.")
@click.pass_obj
def revoke(obj, token_id: str, reason: str) -> None:
    """Revoke token ID: refused by the service from now on."""
    if revoke_token(obj, token_id, reason=reason):
        click.echo(f"token {token_id} revoked")
    else:
        click.echo(f"token {token_id} was revoked already; nothing recorded")


def register(cli: click.Group) -> None:
    roster = cli.commands.get("roster")
    if not isinstance(roster, click.Group):
        raise RuntimeError("register cli.commands.roster before cli.commands.roster_tokens")
    roster.add_command(token_group)
