"""`opsledger run`: a launch or halt script, recorded from start to finish."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from opsledger.cli.errors import INCOMPLETE, INTERRUPTED, CliError
from opsledger.cli.options import actor_of, actor_option, role_option
from opsledger.cli.output import note
from opsledger.cli.runner import RunResult, reserve_log, run_teed
from opsledger.domain.runbook import LIVE_FLAG, Command, Env, Role

if TYPE_CHECKING:
    from opsledger.domain.application import OpsLedger


def effective_argv(argv: list[str], env: Env) -> list[str]:
    """Rewrites `--env prod` when the gate downgraded the deploy: the record
    says staging, so the script must not be told prod."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--env="):
            arg = f"--env={env.value}"
        elif i > 0 and argv[i - 1] == "--env":
            arg = env.value
        out.append(arg)
    return out


def default_session_dir(session_date: object) -> Path:
    return Path("reports") / "live" / str(session_date)


@click.command("run")
@click.argument("key")
@click.argument("command", type=click.Choice([c.value for c in Command]))
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--reason", default="", help="Why (required for kill).")
@click.option(
    "--session-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the log goes [default reports/live/<session date>/].",
)
@actor_option
@role_option(required=False)
@click.pass_obj
def run(
    obj,
    key: str,
    command: str,
    argv: tuple[str, ...],
    reason: str,
    session_dir: Path | None,
    actor_override: str | None,
    role: Role | None,
) -> None:
    """Run a launch/halt script for ticket KEY and record it.

    \b
    Example (everything after -- is the script and its own options):
      opsledger run CHG-2041 deploy -- tradepulse-cli deploy --env prod \\
          --strategy momo-1 --artifact sha256:...

    Output streams live to the terminal and into <session-dir>/COMMAND.log
    (validation.log for validate, as the runbook names it; an existing log
    is never overwritten: a rerun writes deploy-2.log).
    Start and finish (exit code, duration, the log's SHA-256) are recorded,
    then the observed live.enabled is checked against the intended state.
    Exits with the script's own exit code (127 if it cannot start, 130 if
    interrupted).
    """
    cmd = Command(command)
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise click.UsageError("give the script to run after --")
    outcome = record_run(
        obj.app,
        key,
        cmd,
        args,
        reason=reason,
        session_dir=session_dir,
        actor=actor_of(obj, actor_override),
        role=role,
    )
    if outcome.result.outcome == "interrupted":
        raise click.exceptions.Exit(INTERRUPTED)
    raise click.exceptions.Exit(outcome.result.exit_code or 0)


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    env: Env
    log_path: Path
    result: RunResult
    mirrors: bool


def record_run(
    app: OpsLedger,
    key: str,
    cmd: Command,
    args: list[str],
    *,
    reason: str,
    session_dir: Path | None,
    actor: str,
    role: Role | None,
) -> RecordedRun:
    """Records the start, runs the script, records how it ended and the flag."""
    ticket = app.get_ticket(key)
    session_dir = session_dir or default_session_dir(ticket.session_date)
    log_path = reserve_log(session_dir, cmd.log_name)
    try:
        run_id, env, missing = app.start_command(
            key,
            command=cmd,
            argv=args,
            log_path=str(log_path),
            actor=actor,
            role=role,
            reason=reason,
        )
    except BaseException:
        log_path.unlink(missing_ok=True)  # nothing ran, nothing to keep
        raise
    if missing:
        note(
            f"opsledger: GO/NO-GO: {key} lacks {len(missing)} pre-launch artefact(s); "
            f"deploy DOWNGRADED to staging: {'; '.join(missing)}"
        )
    effective = effective_argv(args, env) if cmd is Command.DEPLOY else args
    child_env = {
        **os.environ,
        "OPSLEDGER_TICKET": key,
        "OPSLEDGER_RUN_ID": run_id,
        "OPSLEDGER_EFFECTIVE_ENV": env.value,
        "OPSLEDGER_SESSION_DIR": str(session_dir),
    }
    note(f"opsledger: {key} {cmd.value} run {run_id} ({env.value}) -> {log_path}")
    result = run_teed(effective, log_path, child_env)
    try:
        app.finish_command(
            key,
            run_id=run_id,
            outcome=result.outcome,
            exit_code=result.exit_code,
            log_sha256=result.log_sha256,
            log_bytes=result.log_bytes,
            actor=actor,
            role=role,
            detail=result.detail,
        )
        expected, observed, mirrors = app.observe_flag(key, run_id=run_id, actor=actor, role=role)
    except Exception as e:
        raise CliError(
            f"{key} {cmd.value} finished ({result.outcome}, exit {result.exit_code}, log sha256 "
            f"{result.log_sha256}) but recording it failed: {e}",
            INCOMPLETE,
        ) from e
    status = f"exit {result.exit_code}" if result.outcome == "exited" else result.outcome
    note(
        f"opsledger: {key} {cmd.value} {status}; log {result.log_bytes} bytes, "
        f"sha256 {result.log_sha256[:16]}…"
    )
    if not mirrors:
        note(
            f"opsledger: FLAG MISMATCH: {LIVE_FLAG} is {_word(observed)} after {cmd.value}, "
            f"intended {_word(expected)}; recorded on {key}"
        )
    elif expected is not None:
        note(f"opsledger: {LIVE_FLAG} = {_word(observed)}, as intended")
    return RecordedRun(run_id, env, log_path, result, mirrors)


def _word(value: bool | None) -> str:
    return "unset" if value is None else str(value).lower()


def register(cli: click.Group) -> None:
    cli.add_command(run)
