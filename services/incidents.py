"""The retrospective the runbook asks for: `sla_incidents.md` of a session."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.projections import IncidentQuery, render_sla_incidents
from opsledger.projections.export import duration as format_duration
from opsledger.services.sessions import default_session_dir
from opsledger.services.views import fresh_reader

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services
    from opsledger.services.views import ProgressCallback

__all__ = ["format_duration", "list_incidents", "write_report"]


def list_incidents(
    services: Services,
    *,
    metric: str | None = None,
    strategy: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ticket: str | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """Every SLA breach across tickets, oldest first, filtered as asked."""
    query = IncidentQuery(metric=metric, strategy=strategy, severity=severity, since=since,
                          until=until, ticket=ticket, limit=limit)
    return fresh_reader(services, ["incidents"], progress=progress).incidents(query)


def write_report(services: Services, key: str, output: str | None = None) -> tuple[Path, int, int]:
    """Writes sla_incidents.md from fresh views; returns (path, breaches, log position)."""
    reader = fresh_reader(services, ["tickets", "incidents"])
    ticket = reader.ticket(key)
    breaches = reader.incidents(IncidentQuery(ticket=key))
    position = max(s.position for s in services.projector.status() if s.name in ("tickets", "incidents"))
    text = render_sla_incidents(ticket, breaches, position=position)
    if output is None:
        path = default_session_dir(ticket["session_date"], key) / "sla_incidents.md"
    elif output.endswith(("/", os.sep)) or Path(output).is_dir():
        path = Path(output) / "sla_incidents.md"
    else:
        path = Path(output)
    _write(path, text)
    return path, len(breaches), position


def _write(path: Path, text: str) -> None:
    """Whole or not at all: the archive may pick the file up at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sla_incidents.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
