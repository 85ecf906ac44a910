"""Where a session's files live: the runbook's `reports/live/<date>/`."""

from __future__ import annotations

from pathlib import Path


def default_session_dir(session_date: object) -> Path:
    return Path("reports") / "live" / str(session_date)
