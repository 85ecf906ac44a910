"""`opsledger roster init|grant|revoke|confirm|proposals|key|keys|allowed-signers|
show|history|audit`: who holds which role, and which SSH keys sign for whom.

Authority comes from here, not from `--role`: evidence, approvals and the
launch and halt scripts ask the roster when they are recorded, and each signed
command asks it whose key signed. The roster is itself a record of events, so
every grant, revocation, key and confirmation is audited.
"""

from __future__ import annotations

import click
from opsledger.cli.options import (
    actor_of,
    actor_option,
    count,
    existing_file,
    json_option,
    redact_option,
)
from opsledger.cli.output import emit, emit_json, table
from opsledger.domain.runbook import Role
from opsledger.services.roster import (
    RoleChange,
    add_key,
    allowed_signers,
    audit_roster,
    confirm_proposal,
    found_roster,
    grant_roles,
    read_public_key,
    revoke_key,
    revoke_roles,
    roster_history,
    roster_holdings,
    roster_keys,
    roster_proposals,
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
@click.option("--key", "key_file", type=existing_file, metavar="FILE.pub",
              help="The administrator's SSH public key [default: the key signing this].")
@click.option("--second-admin", metavar="NAME",
              help="A second administrator: administrators are changed only by two of them.")
@click.option("--second-key", "second_key_file", type=existing_file, metavar="FILE.pub",
              help="The second administrator's SSH public key (needed with --second-admin).")
@click.option("--reason", default="roster founded", show_default=True, help="For the record.")
@actor_option
@click.pass_obj
def init(obj, admin: str | None, key_file, second_admin: str | None, second_key_file,
         reason: str, actor_override: str | None) -> None:
    """Found the roster, once, naming its first administrator (and their key).

    Until then nobody holds a role, so no evidence, approval or script can be
    recorded. The administrator cannot grant roles to themselves, and
    administrators are changed only by two of them (one proposes, another
    confirms): a desk needs two administrators to change administrators.
    """
    actor = actor_of(obj, actor_override)
    if not (admin or actor):
        raise click.UsageError("name the first administrator: --admin NAME")
    public_key = read_public_key(key_file) if key_file else None
    second_key = read_public_key(second_key_file) if second_key_file else None
    administrator = found_roster(obj, administrator=admin or actor, actor=actor or admin,
                                 reason=reason, public_key=public_key,
                                 second_administrator=second_admin, second_public_key=second_key)
    also = f" and {second_admin}" if second_admin else ""
    click.echo(f"roster founded; {administrator}{also} {'are its administrators' if also else 'is its administrator'}")


def _echo_change(what: str, done: str, unchanged: str):
    def echo(change: RoleChange) -> None:
        role = change.role.value
        if change.proposal:
            click.echo(f"{change.person}: {role} {what} proposed (needs a second "
                       f"administrator): {change.proposal}")
        elif change.recorded:
            click.echo(f"{change.person}: {role} {done} by {change.actor}")
        else:
            click.echo(f"{change.person}: {unchanged} {role}; nothing recorded")

    return echo


@roster_group.command("grant")
@click.argument("person")
@click.argument("roles", nargs=-1, required=True, type=role_choice, metavar="ROLE...")
@reason_option
@actor_option
@redact_option
@click.pass_obj
def grant(obj, person: str, roles: tuple[str, ...], reason: str, actor_override: str | None) -> None:
    """Grant PERSON one or more ROLEs (administrators only, never to themselves).

    The administrator role, or any role for an administrator, is only proposed:
    a different administrator confirms it (`roster confirm`)."""
    grant_roles(obj, person, [Role(r) for r in roles], actor=actor_of(obj, actor_override),
                reason=reason, progress=_echo_change("grant", "granted", "already holds"))


@roster_group.command("revoke")
@click.argument("person")
@click.argument("roles", nargs=-1, required=True, type=role_choice, metavar="ROLE...")
@reason_option
@actor_option
@redact_option
@click.pass_obj
def revoke(
    obj, person: str, roles: tuple[str, ...], reason: str, actor_override: str | None
) -> None:
    """Revoke ROLEs from PERSON; what they recorded before stands.

    The administrator role, or any role of an administrator, is only proposed:
    a different administrator confirms it (`roster confirm`)."""
    revoke_roles(obj, person, [Role(r) for r in roles], actor=actor_of(obj, actor_override),
                 reason=reason, progress=_echo_change("revocation", "revoked", "does not hold"))


@roster_group.command("show")
@click.option(
    "--at-version",
    type=count(),
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
    """Every roster change, oldest first: who granted, revoked, proposed, confirmed,
    added or revoked a key, and why."""
    rows = roster_history(obj)
    emit(
        rows,
        json_output=json_output,
        human=lambda: table(
            [(r["version"], r["at"].isoformat(timespec="seconds").replace("+00:00", "Z"),
              r["change"], r["person"], "" if r["role"] is None else str(r["role"]), r["actor"],
              r["reason"], r["detail"] or "") for r in rows],
            ["VERSION", "TIME (UTC)", "CHANGE", "PERSON", "ROLE", "BY", "REASON", "DETAIL"],
        ),
    )


@roster_group.command("audit")
@json_option
@click.pass_obj
def audit(obj, json_output: bool) -> None:
    """Replay every evidence, approval and script event against the roster as it
    stood then, and every event's SSH signature against the roster's keys.

    Events recorded before signing are counted as unsigned. Exit 1 when any
    event was not allowed by the roster it names or a signature fails."""
    doc = audit_roster(obj)
    findings, signed = doc["findings"], doc["signatures"]
    emit(
        doc,
        json_output=json_output,
        human=lambda: "\n".join(
            [f"{doc['checked']} roster-checked events replayed: "
             + ("all allowed by the roster they name" if not findings
                else f"{len(findings)} not allowed")]
            + [f"  position {f['position']} {f['ticket']} {f['event']} by {f['actor']} "
               f"({f['role']}): {f['problem']}" for f in findings]
            + [f"{signed['events']} events' signatures replayed: "
               f"{signed['events'] - signed['unsigned']} signed, "
               + (f"{signed['unsigned']} unsigned (recorded before signing), "
                  if signed["unsigned"] else "")
               + (f"{len(signed['findings'])} failed" if signed["findings"] else "all hold")]
            + [f"  {line}" for line in signed["findings"]]
        ),
    )
    if not doc["ok"]:
        raise click.exceptions.Exit(1)


def _check_version(found: int, at_version: int | None) -> None:
    if at_version is not None and found != at_version:
        raise click.BadParameter(f"the roster has only {found} versions",
                                 param_hint="--at-version")


at_version_option = click.option(
    "--at-version", type=count(),
    help="The roster as it stood at this version (an event's roster_version).",
)


@roster_group.command("confirm")
@click.argument("proposal_id", metavar="PROPOSAL_ID")
@reason_option
@actor_option
@redact_option
@click.pass_obj
def confirm(obj, proposal_id: str, reason: str, actor_override: str | None) -> None:
    """Confirm a proposed role change as a second administrator: it takes effect now.

    Neither the administrator who proposed it nor the person it changes may
    confirm it."""
    done = confirm_proposal(obj, proposal_id, actor=actor_of(obj, actor_override), reason=reason)
    verb = "granted" if done["change"] == "grant" else "revoked"
    click.echo(f"{done['person']}: {done['role']} {verb} ({proposal_id} proposed by "
               f"{done['proposer']}, confirmed by {done['confirmed_by']})")


@roster_group.command("proposals")
@click.option("--pending", is_flag=True, help="Only the proposals awaiting confirmation.")
@json_option
@click.pass_obj
def proposals(obj, pending: bool, json_output: bool) -> None:
    """Role changes proposed for a second administrator's confirmation."""
    doc = roster_proposals(obj, pending_only=pending)
    emit(doc, json_output=json_output, human=lambda: table(
        [(p["id"], p["status"], p["change"], p["person"], p["role"], p["proposer"],
          p["confirmed_by"] or "", p["reason"]) for p in doc["proposals"]],
        ["ID", "STATUS", "CHANGE", "PERSON", "ROLE", "PROPOSED BY", "CONFIRMED BY", "REASON"],
    ))


@roster_group.group("key")
def key_group() -> None:
    """Add or revoke a person's SSH signing keys (administrators only)."""


@key_group.command("add")
@click.argument("person")
@click.argument("public_key_file", type=existing_file, metavar="FILE.pub")
@reason_option
@actor_option
@redact_option
@click.pass_obj
def key_add(obj, person: str, public_key_file, reason: str, actor_override: str | None) -> None:
    """Add PERSON's SSH public key (ed25519, ecdsa or a FIDO sk- key), valid from now.

    A key belongs to one person; an administrator adds keys for others, not for
    themselves (except their own first key in a roster that holds none)."""
    change = add_key(obj, person, read_public_key(public_key_file),
                     actor=actor_of(obj, actor_override), reason=reason)
    if change.recorded:
        click.echo(f"{person}: key {change.fingerprint} added by {change.actor}")
    else:
        click.echo(f"{person}: already holds key {change.fingerprint}; nothing recorded")


@key_group.command("revoke")
@click.argument("person")
@click.argument("fingerprint", metavar="FINGERPRINT")
@reason_option
@actor_option
@redact_option
@click.pass_obj
def key_revoke(obj, person: str, fingerprint: str, reason: str,
               actor_override: str | None) -> None:
    """Revoke PERSON's key FINGERPRINT (SHA256:...) now: what it signed before still
    verifies, nothing signed after does."""
    change = revoke_key(obj, person, fingerprint, actor=actor_of(obj, actor_override),
                        reason=reason)
    if change.recorded:
        click.echo(f"{person}: key {fingerprint} revoked by {change.actor}")
    else:
        click.echo(f"{person}: key {fingerprint} was revoked before; nothing recorded")


@roster_group.command("keys")
@at_version_option
@json_option
@click.pass_obj
def keys(obj, at_version: int | None, json_output: bool) -> None:
    """Every person's SSH keys, revoked ones included, with their windows."""
    doc = roster_keys(obj, at_version)
    _check_version(doc["version"], at_version)

    def when(moment) -> str:
        return "" if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")

    emit(doc, json_output=json_output, human=lambda: table(
        [(k["person"], k["fingerprint"], k["key_type"], when(k["valid_after"]),
          when(k["valid_before"]), k["added_by"]) for k in doc["keys"]],
        ["PERSON", "FINGERPRINT", "TYPE", "VALID AFTER", "VALID BEFORE", "ADDED BY"],
    ) + f"\n(roster version {doc['version']})")


@roster_group.command("allowed-signers")
@at_version_option
@json_option
@click.pass_obj
def allowed_signers_command(obj, at_version: int | None, json_output: bool) -> None:
    """Print the roster's keys as an OpenSSH allowed_signers file, so that anyone can
    check a recorded signature with `ssh-keygen -Y verify -f FILE -I PERSON -n opsledger
    -Overify-time=...`: principal = the person, namespaces="opsledger", each key's
    window as valid-after/valid-before."""
    found = allowed_signers(obj, at_version)
    _check_version(found.version, at_version)
    if json_output:
        emit_json({"version": found.version, "allowed_signers": found.text})
    else:
        click.echo(found.text, nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(roster_group)
