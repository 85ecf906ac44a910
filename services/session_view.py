"""What the ticket page and the archive's report show, gathered once from
the read side's own calls (nothing here is a query of its own): the ticket
document, the seven checks, its breaches with their charts and its flag trail."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import LIVE_FLAG
from opsledger.services.breach_chart import breach_charts
from opsledger.services.incidents import list_incidents
from opsledger.services.queries import flag_history, ticket_document
from opsledger.services.records import pre_launch_checks

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def ticket_view(
    services: Services,
    key: str,
    *,
    document: Mapping[str, Any] | None = None,
    session_dir: Path | None = None,
) -> dict[str, Any]:
    """`document` is the ticket as already read (the archive's ticket.json);
    without it, `ticket_document(services, key, with_flag=True)` as the API shows it."""
    ticket = (dict(document) if document is not None
              else ticket_document(services, key, with_flag=True))
    breaches = list_incidents(services, ticket=key)
    changes = [c for c in flag_history(services, LIVE_FLAG)["changes"] if c.get("ticket") == key]
    dirs = {key: session_dir} if session_dir is not None else None
    return {
        "ticket": ticket,
        "checks": pre_launch_checks(),
        "breaches": breaches,
        "charts": breach_charts(services, breaches, session_dirs=dirs) if breaches else {},
        "flag_changes": changes,
    }
