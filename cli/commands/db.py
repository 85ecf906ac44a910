"""`opsledger db harden|check`: an append-only event store.

On PostgreSQL `harden` runs as an administrator (the URL's user, who owns
the event tables) for the application's role, which then runs opsledger
with its own URL and `OPSLEDGER_CREATE_TABLE=n` (it may not create tables;
eventsourcing reads that variable itself). The views and the ledger live in
the same schema, owned by the administrator too; the role reads and writes
their rows. On SQLite there are no roles: `check` reports the file
permissions, which are the only protection.
"""

from __future__ import annotations

import click
from opsledger.cli.errors import REFUSED
from opsledger.cli.options import json_option
from opsledger.cli.output import emit, note, table
from opsledger.services.database import (
    DEFAULT_APP_ROLE,
    HardeningReport,
    SQLiteFileReport,
    check_event_store,
    harden_event_store,
)

app_role_option = click.option(
    "--app-role",
    metavar="NAME",
    default=DEFAULT_APP_ROLE,
    show_default=True,
    help="The PostgreSQL role the application connects as (a plain lowercase name).",
)


@click.group("db")
def db_group() -> None:
    """The event store's database: make it append-only (PostgreSQL) and check it."""


@db_group.command("harden")
@app_role_option
@click.option(
    "--login",
    is_flag=True,
    help="Create a missing role with LOGIN (no password: set one, or use trust/cert auth) "
    "instead of NOLOGIN.",
)
@json_option
@click.pass_obj
def harden(obj, app_role: str, login: bool, json_output: bool) -> None:
    """Make the event tables append-only for APP_ROLE (PostgreSQL; run as an administrator).

    Creates the tables if missing, then: grants APP_ROLE SELECT and INSERT
    (plus the lock privilege appends need), the sequence's USAGE and the
    schema's USAGE, revokes every other table privilege, and adds triggers
    refusing UPDATE, DELETE and TRUNCATE to any role but the owner. Running
    it again changes nothing (and repairs what was tampered with).

    It also creates every view-store table (read models, view tracking, the
    ledger's tree, checkpoints and seals) and grants APP_ROLE SELECT, INSERT,
    UPDATE and DELETE on their rows (and, by default privilege, on the tables
    a later 'projections rebuild' by this administrator swaps in), so that
    reading, sealing and 'ledger verify' work as APP_ROLE, which never needs
    CREATE.

    A missing role is created NOLOGIN, so that hardening never opens a way in:
    give it LOGIN and a password yourself, or grant it to login roles; --login
    creates it able to log in, without a password. An existing role's
    attributes are left as they are.
    """
    report = harden_event_store(obj, app_role, login=login)
    _show(report, json_output)
    if not report.hardened:  # pragma: no cover - harden then check disagreeing is a bug
        raise click.exceptions.Exit(REFUSED)
    if not json_output:
        note(
            f"opsledger: run the application as {app_role} with OPSLEDGER_CREATE_TABLE=n "
            "(it may not create tables)"
        )


@db_group.command("check")
@app_role_option
@json_option
@click.pass_obj
def check(obj, app_role: str, json_output: bool) -> None:
    """Report whether the event tables are append-only for APP_ROLE (exit 1 if not).

    PostgreSQL: per event table, the role's privileges and the refusing
    triggers; then the view-store tables the role must read and write (a
    missing table or privilege is named: reads would fail).
    SQLite: the modes of the database file and its folder (hardened when no
    group or other may write them).
    """
    report = check_event_store(obj, app_role)
    _show(report, json_output)
    if not report.hardened:
        raise click.exceptions.Exit(REFUSED)


def _show(report: HardeningReport | SQLiteFileReport, json_output: bool) -> None:
    emit(report.as_document(), json_output=json_output, human=lambda: _human(report))


def _human(report: HardeningReport | SQLiteFileReport) -> str:
    if isinstance(report, SQLiteFileReport):
        rows = [(f.path, f.mode, "no" if f.others_can_write else "yes") for f in report.files]
        lines = [table(rows, ["PATH", "MODE", "OWNER-ONLY WRITES"])]
        lines.append("SQLite has no roles: file permissions are the only protection")
    else:
        rows = [
            (
                t.table,
                ",".join(t.privileges) or "-",
                ",".join(op for op, ok in t.triggers.items() if ok) or "-",
                "yes" if t.hardened else "no",
            )
            for t in report.tables
        ]
        lines = [table(rows, ["TABLE", f"{report.role.name.upper()} MAY", "REFUSED BY TRIGGER", "HARDENED"])]
        for t in report.tables:
            lines += [f"  {t.table}: {p}" for p in t.problems]
        lines += [f"  {p}" for p in report.problems]
        lines += _views(report)
    lines.append("hardened" if report.hardened else "NOT hardened")
    return "\n".join(lines)


def _views(report: HardeningReport) -> list[str]:
    """The view-store tables: one line when the role may use them all, else each problem."""
    if not report.views:
        return []
    problems = [f"  {v.table}: {p}" for v in report.views for p in v.problems]
    if problems:
        return [f"view-store tables ({report.role.name} reads and writes their rows):", *problems]
    return [f"view-store tables: {report.role.name} may SELECT, INSERT, UPDATE, DELETE "
            f"on all {len(report.views)}"]


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
