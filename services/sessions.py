"""Where a session's files live: `reports/live/<date>/<ticket>/`.

One folder per ticket: two tickets with the same session date never share a
folder, so one ticket's archive can never pick up another ticket's logs. The
runbook's older `reports/live/<date>/` layout is still served by an explicit
`--session-dir` (README, "Session folders").
"""

from __future__ import annotations

from pathlib import Path

SESSION_ROOT = Path("reports") / "live"


def default_session_dir(session_date: object, ticket: str) -> Path:
    """`reports/live/<date>/<ticket>/`, relative to the working directory.

    The ticket key is checked by the domain (`[A-Z][A-Z0-9]+-[0-9]+`) before
    any ticket exists, so it is always one plain path segment."""
    return SESSION_ROOT / str(session_date) / ticket
