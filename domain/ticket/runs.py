"""The launch and halt scripts (runbook section 2): what a run may start as,
how it must end, and what `live.enabled` should read once it has.

Each rule is a function over the ticket's recorded state that raises a named
`DomainError` or answers a plain value; the aggregate calls them before it
records anything. The functions that take the ticket itself answer with what
to record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import uuid4

from opsledger.domain.errors import CommandStateError, InvalidInput, ReasonRequired
from opsledger.domain.runbook import LIVE_FLAG, Command, Env
from opsledger.domain.ticket.inputs import validate_text
from pydantic import AwareDatetime, TypeAdapter

Runs = Mapping[str, dict[str, Any]]  # run_id -> record, as the ticket holds it


class TicketRuns(Protocol):
    """The part of a ticket's state these rules read."""

    key: str
    commands: dict[str, dict[str, Any]]
    requested_env: Env
    effective_env: Env

    def missing_checks(self) -> list[str]: ...


class Start(NamedTuple):
    """A run about to start: its id, its env and the gaps that downgraded it
    there (none: not downgraded), with what else its start records."""

    run_id: str
    env: Env
    missing: list[str]
    started: dict[str, Any]  # the CommandStarted event's fields this decides
    downgrade: dict[str, Any] | None  # the Downgraded event's fields, if downgraded
    kill: dict[str, Any] | None  # the KillSwitchEngaged event's fields, for a kill


def start(ticket: TicketRuns, *, command: Command, reason: str, run_id: str | None) -> Start:
    """How a run starts, once it may: a new run id unless the caller has one,
    the env `run_env` decides, and a kill engages the kill switch."""
    run_id = run_id or uuid4().hex[:12]
    require_startable(ticket.key, ticket.commands, command=command, reason=reason, run_id=run_id)
    env, missing = run_env(
        command,
        requested=ticket.requested_env,
        effective=ticket.effective_env,
        missing_checks=ticket.missing_checks,
    )
    downgraded = {"requested_env": ticket.requested_env, "effective_env": env, "missing": missing}
    return Start(
        run_id,
        env,
        missing,
        started={"run_id": run_id, "command": command, "env": env, "reason": reason},
        downgrade={"run_id": run_id, **downgraded} if missing else None,
        kill={"run_id": run_id, "reason": reason} if command is Command.KILL else None,
    )


def require_startable(key: str, runs: Runs, *, command: Command, reason: str, run_id: str) -> None:
    if command is Command.KILL and not reason.strip():
        raise ReasonRequired(key, "kill needs a non-empty --reason for the record")
    validate_text(key, "reason", reason)
    if run_id in runs:
        raise CommandStateError(key, f"run {run_id} was already started")


def run_env(
    command: Command,
    *,
    requested: Env,
    effective: Env,
    missing_checks: Callable[[], list[str]],
) -> tuple[Env, list[str]]:
    """The env a run starts in, and the gaps that downgraded it (none: not downgraded).

    Go/No-Go: a prod deploy with evidence missing runs on staging, decided
    *before* it starts, so the record never claims prod it did not have.
    """
    if command is not Command.DEPLOY:
        return effective, []
    if requested is Env.PROD:
        missing = missing_checks()
        if missing:
            return Env.STAGING, missing
    return requested, []


def started_run(key: str, runs: Runs, run_id: str) -> dict[str, Any]:
    record = runs.get(run_id)
    if record is None:
        raise CommandStateError(key, f"run {run_id} was never started")
    return record


def unfinished_run(key: str, runs: Runs, run_id: str) -> dict[str, Any]:
    # A script that was running when the ticket closed must still be able to
    # report how it ended, so this rule never looks at whether it is closed.
    record = started_run(key, runs, run_id)
    if record["finished"] is not None:
        raise CommandStateError(key, f"run {run_id} has already finished")
    return record


def finishing(
    ticket: TicketRuns, run_id: str, detail: str, *, outcome: str, exit_code: int | None
) -> dict[str, Any]:
    """What a run's end records from its start (run, command, start time, log),
    with how it ended and its one-line detail, once the run is unfinished."""
    key = ticket.key
    record = unfinished_run(key, ticket.commands, run_id)
    return {
        "run_id": run_id,
        "command": record["command"],
        "started_at": record["started_at"],
        "log_path": record["log_path"],
        "detail": validate_text(key, "detail", detail),
        "outcome": outcome,
        "exit_code": exit_code,
    }


def log_digest(key: str, digest: str | None) -> str | None:
    """How a finished run's log is digested: None (plain SHA-256) or
    "hmac-sha256" (keyed: the log held a secret when its script ended)."""
    if digest not in (None, "hmac-sha256"):
        raise InvalidInput(key, f"a log digest is sha256 or hmac-sha256, not {digest!r}")
    return digest


def running(runs: Runs) -> list[dict[str, Any]]:
    """The runs whose end was never recorded (an abandoned run's was, as such)."""
    return [run for run in runs.values() if run["finished"] is None]


def require_ended(key: str, runs: Runs) -> None:
    """A ticket closes only once every run's end is on the record."""
    still = running(runs)
    if still:
        first = still[0]
        more = f" (and {len(still) - 1} more)" if len(still) > 1 else ""
        raise CommandStateError(
            key,
            f"cannot close: run {first['run_id']} ({Command(first['command']).value}) is still "
            f"running: its end was never recorded{more}",
        )


def settles(command: Command, outcome: str, exit_code: int | None) -> bool:
    """A settle that exited cleanly settles the session."""
    return command is Command.SETTLE and outcome == "exited" and exit_code == 0


def expected_live(run: Mapping[str, Any]) -> bool | None:
    """What `live.enabled` must read after the run (None: the script leaves it)."""
    if run["command"] is Command.DEPLOY and run["env"] is not Env.PROD:
        return False  # a deploy downgraded to staging must leave live trading off
    return run["command"].intended_live


def flag_reading(ticket: TicketRuns, run_id: str, observed: bool | None) -> dict[str, Any]:
    """`live.enabled` as read after a started run, beside what it should read."""
    expected = expected_live(started_run(ticket.key, ticket.commands, run_id))
    return {"run_id": run_id, "flag": LIVE_FLAG, "expected": expected, "observed": observed}


def mirrors(reading: Mapping[str, Any]) -> bool:
    """Whether the flag reads as the run left it (anything, if the run leaves it)."""
    return reading["expected"] is None or reading["expected"] == reading["observed"]


_MOMENT: TypeAdapter[AwareDatetime] = TypeAdapter(AwareDatetime)
Window = tuple[datetime, datetime | None]


def session_windows(commands: Runs) -> list[Window]:
    """When the session was live, oldest first: from a deploy's start to the end of
    the first settle or kill after it (its finish; its start while it still runs).
    A window without an end is still live. A deploy while live opens nothing new."""
    moments = []
    for run in commands.values():
        command = Command(run["command"])
        if command in (Command.DEPLOY, Command.SETTLE, Command.KILL):
            finished = (run.get("finished") or {}).get("finished_at")
            start = _MOMENT.validate_python(run["started_at"])
            end = _MOMENT.validate_python(finished) if finished is not None else start
            moments.append((start, end, command))
    windows: list[Window] = []
    live: datetime | None = None
    for start, end, command in sorted(moments, key=lambda m: m[0]):
        if command is Command.DEPLOY and live is None:
            live = start
        elif command is not Command.DEPLOY and live is not None:
            windows.append((live, end))
            live = None
    return windows + ([(live, None)] if live is not None else [])


def live_at(commands: Runs, moment: datetime) -> bool:
    """Whether the session was live at `moment` (its ends included)."""
    return any(start <= moment and (end is None or moment <= end)
               for start, end in session_windows(commands))
