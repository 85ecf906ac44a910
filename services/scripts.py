"""Running a launch or halt script (`deploy`, `validate`, `settle`, `kill`) and
recording it from start to finish, with the `live.enabled` check after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.adapters.runner import RunResult, reserve_log, run_teed
from opsledger.domain.runbook import LIVE_FLAG, Command, Env, Role
from opsledger.services.errors import Incomplete
from opsledger.services.sessions import default_session_dir

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]


def _silent(_: str) -> None:
    pass


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


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    env: Env
    log_path: Path
    result: RunResult
    mirrors: bool


def record_run(
    services: Services,
    key: str,
    cmd: Command,
    args: list[str],
    *,
    reason: str,
    session_dir: Path | None,
    actor: str,
    role: Role | None,
    notify: Notify = _silent,
) -> RecordedRun:
    """Records the start, runs the script, records how it ended and the flag.

    The script's output streams to the terminal and the log as it runs;
    `notify` gets the lines a person should read (the downgrade, the flag
    check), never the data."""
    app = services.app
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
        notify(
            f"opsledger: GO/NO-GO: {key} lacks {len(missing)} pre-launch artefact(s); "
            f"deploy DOWNGRADED to staging: {'; '.join(missing)}"
        )
    # A downgraded session stays downgraded: validate, settle and kill are told
    # the env the record says (staging), as the deploy was.
    downgraded = env is not ticket.requested_env
    effective = effective_argv(args, env) if cmd is Command.DEPLOY or downgraded else args
    child_env = {
        **services.environ,
        "OPSLEDGER_TICKET": key,
        "OPSLEDGER_RUN_ID": run_id,
        "OPSLEDGER_EFFECTIVE_ENV": env.value,
        "OPSLEDGER_SESSION_DIR": str(session_dir),
    }
    notify(f"opsledger: {key} {cmd.value} run {run_id} ({env.value}) -> {log_path}")
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
        raise Incomplete(
            f"{key} {cmd.value} finished ({result.outcome}, exit {result.exit_code}, log sha256 "
            f"{result.log_sha256}) but recording it failed: {e}"
        ) from e
    status = f"exit {result.exit_code}" if result.outcome == "exited" else result.outcome
    if result.outcome == "failed-to-start" and result.detail:
        status += f" ({result.detail.removeprefix('opsledger: ')})"  # why, not only in the log
    notify(
        f"opsledger: {key} {cmd.value} {status}; log {result.log_bytes} bytes, "
        f"sha256 {result.log_sha256[:16]}…"
    )
    if not mirrors:
        notify(
            f"opsledger: FLAG MISMATCH: {LIVE_FLAG} is {_word(observed)} after {cmd.value}, "
            f"intended {_word(expected)}; recorded on {key}. opsledger only compares: the "
            f"script itself sets the flag, with 'opsledger flag set {LIVE_FLAG} "
            f"{_word(expected) if expected is not None else 'true|false'} --reason ... "
            f"--ticket {key}' (see 'opsledger run --help')"
        )
    elif expected is not None:
        notify(f"opsledger: {LIVE_FLAG} = {_word(observed)}, as intended")
    return RecordedRun(run_id, env, log_path, result, mirrors)


def _word(value: bool | None) -> str:
    return "unset" if value is None else str(value).lower()
