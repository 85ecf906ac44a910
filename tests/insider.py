"""The insider of issue 13, as a test plays them: the desk's own account, with
file access to the embedded store, rewrites one signed approval and makes the
ledger's tables agree with the edit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings


def rewrite_history(home: Path) -> None:
    """Edit one signed approval in events.sqlite, recompute the ledger's tables from
    the edited log, and delete its stored checkpoints and seals."""
    events = sqlite3.connect(home / "events.sqlite")
    rowid, state = events.execute(
        "select rowid, state from stored_events where topic like '%ApprovalGiven' limit 1"
    ).fetchone()
    fields = json.loads(state)
    fields["reference"] = "rewritten"
    events.execute("update stored_events set state = ? where rowid = ?",
                   (json.dumps(fields, sort_keys=True, separators=(",", ":")).encode(), rowid))
    events.commit()
    events.close()
    views = sqlite3.connect(home / "views.sqlite")
    tables = {r[0] for r in views.execute("select name from sqlite_master where type='table'")}
    views.close()
    services = Services(Settings(home=home))
    try:
        services.ledger.projector.rebuild()
        store = services.ledger.store
        with store.transaction() as writer:
            for table in ("ledger_checkpoints", "ledger_seals"):
                if any(t.endswith(table) for t in tables):
                    writer.cur.execute("DELETE FROM " + store.qualify(table))
    finally:
        services.close()
