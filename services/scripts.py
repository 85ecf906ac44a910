"""Running a launch or halt script (`deploy`, `validate`, `settle`, `kill`) and
recording it from start to finish, with the `live.enabled` check after it; and
finding the runs whose recorder disappeared before their end was recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opsledger.adapters.runner import (
    RunResult,
    recorder_gone,
    recorder_identity,
    reserve_log,
    run_teed,
)
from opsledger.domain.errors import CommandStateError
from opsledger.domain.runbook import LIVE_FLAG, Command, Env, Role
from opsledger.domain.ticket.runs import running
from opsledger.services.errors import Incomplete
from opsledger.services.files import file_digest
from opsledger.services.recorded import COMMITMENT
from opsledger.services.redaction import file_commitment
from opsledger.services.sessions import default_session_dir

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]
SMALL_LOG = 4 << 20  # below this the log is scanned without compiling Hyperscan's database


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
    reap_abandoned(services, key, actor=actor, role=role, session_dir=session_dir, notify=notify)
    ticket = app.get_ticket(key)
    session_dir = session_dir or default_session_dir(ticket.session_date, key)
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
            runner=recorder_identity(),  # so that a later command can tell it is gone
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
    log_digest, digest = _log_digest(services, log_path, result, notify)
    try:
        app.finish_command(
            key,
            run_id=run_id,
            outcome=result.outcome,
            exit_code=result.exit_code,
            log_sha256=digest,
            log_bytes=result.log_bytes,
            actor=actor,
            role=role,
            detail=result.detail,
            **({"log_digest": log_digest} if log_digest else {}),
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
    if not result.log_complete:  # recorded as it is; the command says it is not whole
        raise Incomplete(f"{key} {cmd.value} {status} is recorded, but {result.detail} "
                         f"(the recorded sha256 is of those bytes); the terminal showed all")
    return RecordedRun(run_id, env, log_path, result, mirrors)


def _log_digest(services: Services, log_path: Path, result: RunResult,
                notify: Notify) -> tuple[str | None, str]:
    """How the log's digest is recorded: its sha256, or, when the script wrote
    a secret into it, its HMAC under the desk's redaction key. The log will be
    archived redacted, and a plain hash of the original beside the redacted
    copy would let anyone test guesses of the secret against it."""
    from opsledger.archiver.secrets import hits
    from opsledger.archiver.secrets.files import scan_stream

    engine = hits.finder("stdlib" if result.log_bytes < SMALL_LOG else None)
    try:
        with log_path.open("rb") as f:
            scan = scan_stream(f, log_path.name, engine=engine)
    except OSError:
        return None, result.log_sha256
    if scan.sha256 != result.log_sha256 or not scan.findings:
        return None, result.log_sha256
    kinds = ", ".join(sorted({f.kind for f in scan.findings}))
    notify(f"opsledger: {log_path.name} holds {len(scan.findings)} secret(s) ({kinds}): its "
           "digest is recorded keyed (HMAC under the desk's redaction key); seal the session "
           "with 'opsledger archive build --redact'")
    return "hmac-sha256", file_commitment(services, log_path).removeprefix(COMMITMENT)


def _word(value: bool | None) -> str:
    return "unset" if value is None else str(value).lower()


# --- runs whose recorder disappeared -------------------------------------------------------

RecorderState = Literal["alive", "gone", "unknown"]


def recorder_state(run: Mapping[str, Any]) -> RecorderState:
    """Whether the process recording a still-running run is there: unknown when
    the run did not say which it was (recorded before) or ran on another host."""
    runner = run.get("runner")
    gone = recorder_gone(runner) if runner else None
    return "unknown" if gone is None else "gone" if gone else "alive"


def recorder_states(services: Services, key: str) -> dict[str, RecorderState]:
    """run id -> recorder state, for every run of `key` still running."""
    ticket = services.ledger_app.get_ticket(key)
    return {run["run_id"]: recorder_state(run) for run in running(ticket.commands)}


def reap_abandoned(
    services: Services,
    key: str,
    *,
    actor: str,
    role: Role | None,
    session_dir: Path | None = None,
    notify: Notify = _silent,
) -> list[str]:
    """Records as abandoned each run of `key` still running whose recorder is
    gone: no exit code, and the log's SHA-256 and size as they are now (the
    script may still be writing it). Returns their run ids."""
    ticket = services.app.get_ticket(key)
    reaped = []
    for run in running(ticket.commands):
        if recorder_state(run) != "gone":
            continue
        runner = run["runner"]
        detail = (f"its recorder (pid {runner.get('pid')} on {runner.get('host')}) disappeared "
                  "before the script's end was recorded")
        log = _log_file(run["log_path"], session_dir)
        if log is None:
            sha, size = hashlib.sha256(b"").hexdigest(), 0
            detail += "; its log is missing"
        else:
            sha, size = file_digest(log)
        try:
            services.app.finish_command(key, run_id=run["run_id"], outcome="abandoned",
                                        exit_code=None, log_sha256=sha, log_bytes=size,
                                        actor=actor, role=role, detail=detail)
        except CommandStateError:
            continue  # its end was recorded meanwhile, by it or by another command
        reaped.append(run["run_id"])
        notify(f"opsledger: {key} {run['command'].value} run {run['run_id']} ABANDONED: {detail}; "
               f"log {size} bytes, sha256 {sha[:16]}… recorded as found")
    return reaped


def _log_file(recorded: str, session_dir: Path | None) -> Path | None:
    """The run's log: where it was recorded, else under the session folder given."""
    candidates = [Path(recorded)]
    if session_dir is not None:
        candidates.append(session_dir / Path(recorded).name)
    return next((c for c in candidates if c.is_file()), None)
