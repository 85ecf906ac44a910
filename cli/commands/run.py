"""`opsledger run`: a launch or halt script, recorded from start to finish."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.errors import INTERRUPTED
from opsledger.cli.options import actor_of, actor_option, redact_option, role_option
from opsledger.cli.output import note
from opsledger.domain.runbook import Command, Role
from opsledger.services.scripts import record_run


@click.command("run")
@click.argument("key")
@click.argument("command", type=click.Choice([c.value for c in Command]))
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--reason", default="", help="Why (required for kill).")
@click.option(
    "--session-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the log goes [default reports/live/<session date>/<ticket>/].",
)
@actor_option
@redact_option
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

    \b
    The script runs with opsledger's environment plus:
      OPSLEDGER_TICKET         the ticket KEY
      OPSLEDGER_RUN_ID         this run's id, as recorded
      OPSLEDGER_SESSION_DIR    the session folder its log is in
      OPSLEDGER_EFFECTIVE_ENV  prod or staging: the env the record says
                               (after a downgraded deploy, staging, and every
                               '--env prod' of the script is rewritten too)

    The flag check: opsledger never changes live.enabled itself. The script
    (or whoever runs it) records the change, e.g. a deploy that goes live runs
    'opsledger flag set live.enabled true --reason "..." --ticket
    $OPSLEDGER_TICKET', a kill sets it false. If it does not, the check after
    the run finds the flag other than intended and records a FLAG MISMATCH.
    """
    cmd = Command(command)
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise click.UsageError("give the script to run after --")
    outcome = record_run(
        obj,
        key,
        cmd,
        args,
        reason=reason,
        session_dir=session_dir,
        actor=actor_of(obj, actor_override),
        role=role,
        notify=note,
    )
    if outcome.result.outcome == "interrupted":
        raise click.exceptions.Exit(INTERRUPTED)
    raise click.exceptions.Exit(outcome.result.exit_code or 0)


def register(cli: click.Group) -> None:
    cli.add_command(run)
