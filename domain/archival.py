"""The post-session archival checklist (runbook section 6) against the record.

What an archive must hold depends on what happened: the log of every script
that ran (`kill.log` only if a kill was recorded), `sla_incidents.md` only if
breaches were recorded, `postmortem.md` only if the kill switch was engaged.
A log whose SHA-256 differs from the one recorded when its script finished is
evidence altered after the fact, unless the ticket records that it was
redacted: a `PayloadRedacted` event whose original hash is the recorded one
explains the archived copy's different hash. A run whose end is unknown (still
running, or abandoned: its recorder disappeared) is unfinished, not present.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from opsledger.domain.ticket import Ticket

Status = Literal["present", "missing", "altered", "unfinished"]


@dataclass(frozen=True)
class Item:
    """One line of the checklist as it stands for a session folder."""

    item: str  # a file name or a pattern, e.g. metrics_<timestamp>.json.gz
    reason: str
    status: Status
    matches: tuple[str, ...] = ()
    detail: str = ""

    def line(self) -> str:
        text = f"{self.item}: {self.status} ({self.reason})"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class _Pattern:
    item: str
    glob: str
    reason: str


STATIC = (
    _Pattern("metrics_<timestamp>.json.gz", "metrics_*.json.gz", "Prometheus metrics snapshot"),
    _Pattern("risk_limits.yaml", "risk_limits.yaml", "risk limit deltas"),
    _Pattern("positions CSV", "*position*.csv", "position CSV"),
    _Pattern("PnL CSV", "*pnl*.csv", "PnL CSV"),
    _Pattern("exposure CSV", "*exposure*.csv", "exposure CSV"),
    _Pattern("logs_<timestamp>.tar.gz", "logs_*.tar.gz", "compressed log bundle"),
)


def recorded_logs(ticket: Ticket) -> list[tuple[str, str | None, str]]:
    """(file name, recorded digest or None if its end is unknown, command) per run.
    The digest is the sha256 hex, or "hmac-sha256:<hex>" for a log recorded
    keyed (it held a secret when its script ended): see `keyed_logs`."""
    return [_log_of(run) for run in ticket.commands.values()]


def _log_of(run: Mapping) -> tuple[str, str | None, str]:
    finished = run["finished"]
    ended = finished is not None and finished["outcome"] != "abandoned"
    return (
        PurePosixPath(str(run["log_path"]).replace("\\", "/")).name,
        _digest(finished) if ended else None,
        run["command"].value,
    )


def _unknown_end(run: Mapping) -> str:
    finished = run["finished"]
    if finished is None:
        return f"run {run['run_id']} is still running: the script's end was never recorded"
    return (f"run {run['run_id']} was abandoned: {finished['detail']} "
            f"(log sha256 {finished['log_sha256'][:16]}… when found)")


def _digest(finished: Mapping) -> str:
    if finished.get("log_digest") == "hmac-sha256":
        return "hmac-sha256:" + finished["log_sha256"]
    return finished["log_sha256"]


def keyed_logs(ticket: Ticket) -> set[str]:
    """Names of the logs whose recorded digest is keyed: the services compute
    the same HMAC of such a file to compare it, with the desk's key."""
    return {name for name, digest, _ in recorded_logs(ticket)
            if digest is not None and digest.startswith("hmac-sha256:")}


def checklist(ticket: Ticket, files: Iterable[str], digests: Mapping[str, str]) -> list[Item]:
    """The checklist for a session folder holding `files` (paths relative to
    the folder, `/`-separated); `digests` maps a log's name to its SHA-256 as
    read now. Items come in the runbook's order."""
    names = sorted(set(files))
    top = [n for n in names if "/" not in n]
    items: list[Item] = []
    for run in ticket.commands.values():
        name, recorded, command = _log_of(run)
        reason = f"output of {command}"
        if name not in top:
            items.append(Item(name, reason, "missing"))
        elif recorded is None:
            items.append(Item(name, reason, "unfinished", (name,), _unknown_end(run)))
        elif (redacted := _redaction(ticket, name, recorded)) is not None:
            got = digests.get(name)
            if got in (recorded, redacted["redacted_sha256"]):
                detail = f"archived redacted; original {_short(recorded)} as recorded"
                items.append(Item(name, reason, "present", (name,), detail))
            else:
                detail = f"{_short(got or '?')} but {_short(recorded)} was recorded"
                items.append(Item(name, reason, "altered", (name,), detail))
        elif digests.get(name) != recorded:
            detail = f"{_short(digests.get(name, '?'))} but {_short(recorded)} was recorded"
            items.append(Item(name, reason, "altered", (name,), detail))
        else:
            items.append(Item(name, reason, "present", (name,)))
    for pattern in STATIC:
        found = tuple(n for n in top if fnmatch.fnmatch(n.lower(), pattern.glob))
        items.append(Item(pattern.item, pattern.reason, "present" if found else "missing", found))
    conditional = []
    if ticket.breaches:
        conditional.append(("sla_incidents.md", f"{len(ticket.breaches)} SLA breach(es)"))
    if ticket.kill_reasons:
        conditional.append(("postmortem.md", "the kill switch was engaged"))
    for name, reason in conditional:
        items.append(
            Item(
                name,
                reason,
                "present" if name in top else "missing",
                (name,) if name in top else (),
            )
        )
    return items


def _redaction(ticket: Ticket, name: str, recorded: str) -> dict | None:
    """The latest recorded redaction of log `name` made from its recorded original."""
    found = [
        r
        for r in getattr(ticket, "redactions", ())
        if r["file"] == name and recorded in (r.get("original_hmac"), r.get("original_sha256"))
    ]
    return found[-1] if found else None


def _short(digest: str) -> str:
    if digest.startswith("hmac-sha256:"):
        return f"hmac-sha256 {digest[12:28]}…"
    return f"sha256 {digest[:16]}…"


def problems(items: Iterable[Item]) -> list[Item]:
    return [i for i in items if i.status != "present"]
