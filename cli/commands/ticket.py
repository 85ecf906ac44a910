"""`opsledger ticket open|close`: a change ticket's life."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import click
from opsledger.archiver.detached import DetachedManifest
from opsledger.cli.errors import INVALID, REFUSED, CliError
from opsledger.cli.options import (
    IsoDate,
    actor_of,
    actor_option,
    file_digest,
    json_option,
    role_option,
    store_option,
)
from opsledger.cli.output import emit, note
from opsledger.domain.runbook import Env, Role
from opsledger.services.sessions import default_session_dir


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
@click.option(
    "--prune",
    is_flag=True,
    help="Remove the session folder, once the verified archive is known to hold it.",
)
@click.option(
    "--session-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The session folder to prune [default reports/live/<session date>/].",
)
@store_option
@actor_option
@role_option(required=False)
@click.pass_obj
def close_ticket(
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
    app = obj.app
    actor = actor_of(obj, actor_override)
    ticket = app.get_ticket(key)
    ticket.close(actor=actor, role=role, pruned=prune)  # the rules, on a copy never saved
    if prune:
        folder = session_dir or default_session_dir(ticket.session_date)
        latest = ticket.archives[-1]
        store, name = obj.store_and_name(latest["location"], store_uri)
        manifest = store.get_manifest(name)
        if manifest is None:
            raise CliError(f"{key}: the archive's manifest is missing; not pruning", REFUSED)
        unsafe = unarchived_files(folder, DetachedManifest.from_bytes(manifest))
        if unsafe:
            raise CliError(
                f"{key}: not pruning {folder}: not in the archive as sealed: " + ", ".join(unsafe),
                REFUSED,
            )
        shutil.rmtree(folder)
        note(f"opsledger: removed {folder}")
    app.close_ticket(key, actor=actor, role=role, pruned=prune)
    note(f"closed {key}")


def unarchived_files(folder: Path, manifest: DetachedManifest) -> list[str]:
    """Files of the folder that the archive does not hold byte for byte."""
    if not folder.is_dir():
        raise CliError(f"{folder}: no such session folder", INVALID)
    archived = {f.path.removeprefix("data/"): f.sha256 for f in manifest.files}
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if archived.get(rel) != file_digest(path)[0]:
            found.append(rel)
    return found


def register(cli: click.Group) -> None:
    cli.add_command(ticket_group)
