"""An append-only event store: harden it (PostgreSQL) and check it (any backend).

On PostgreSQL `harden_event_store` runs as an administrator (the URL's user,
who owns the event tables) for the application's role, which then runs
opsledger with its own URL and `OPSLEDGER_CREATE_TABLE=n` (it may not create
tables; eventsourcing reads that variable itself). The administrator also
creates every view-store table (read models, ledger) and the role gets their
rows, so that reading, sealing and `ledger verify` work as that role. On SQLite there are no
roles: `check_event_store` reports the file permissions, which are the only
protection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.adapters.postgres_hardening import HardeningReport, PostgresHardening
from opsledger.adapters.sqlite_file_check import SQLiteFileReport, sqlite_file_check
from opsledger.projections.catalog import store_tables
from opsledger.services.errors import InvalidRequest

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

__all__ = [
    "DEFAULT_APP_ROLE",
    "HardeningReport",
    "SQLiteFileReport",
    "check_event_store",
    "harden_event_store",
]

DEFAULT_APP_ROLE = "opsledger_app"


def harden_event_store(services: Services, app_role: str, *, login: bool = False) -> HardeningReport:
    """Creates the event tables if missing and makes them append-only for
    `app_role`; creates the view-store tables if missing and gives `app_role`
    their rows; a missing role is created NOLOGIN (LOGIN, without a password,
    with `login`). Running it again changes nothing and repairs tampering."""
    if not services.settings.database_url:
        raise InvalidRequest(
            "SQLite has no roles to harden: the embedded store is protected by its file "
            "permissions only (see 'opsledger db check')"
        )
    hardening = PostgresHardening.of_application(services.ledger_app, store_tables())
    services.ledger.install()  # every view, the ledger's tables and their tracking rows
    services.projector.install()
    return hardening.harden(app_role, login=login)


def check_event_store(services: Services, app_role: str) -> HardeningReport | SQLiteFileReport:
    """Whether the event tables are append-only for `app_role` (PostgreSQL: its
    privileges and the refusing triggers), or the SQLite file's modes."""
    if not services.settings.database_url:
        return sqlite_file_check(Path(services.settings.event_store_env()["SQLITE_DBNAME"]))
    from opsledger.domain.application import OpsLedger

    # A check must not create what it inspects, and may run as the application role.
    # eventsourcing reads the name-prefixed key first, even from the process environment.
    no_tables = {"CREATE_TABLE": "n", f"{OpsLedger.name.upper()}_CREATE_TABLE": "n"}
    app = OpsLedger(env={**services.settings.event_store_env(), **no_tables})
    try:
        return PostgresHardening.of_application(app, store_tables()).check(app_role)
    finally:
        app.close()
