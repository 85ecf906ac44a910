"""Runs a launch/halt script, teeing its output live to the log and the terminal,
and tells whether the process recording a run is still there.

The log is streamed (never held in memory) by a writer process of its own and
hashed from disk once it is complete, so the SHA-256 recorded at the end is of
exactly the bytes on disk.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsledger.domain.runbook import INCOMPLETE_LOG

CHUNK = 1 << 16


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the script ran."""


@dataclass(frozen=True)
class RunResult:
    outcome: str  # "exited", "failed-to-start" or "interrupted" ("abandoned": found later)
    exit_code: int | None
    log_sha256: str
    log_bytes: int
    detail: str = ""
    log_complete: bool = True  # False: not all the script's output reached the log


def reserve_log(session_dir: Path, name: str) -> Path:
    """Creates `<name>.log` (or `<name>-2.log`, ...) without ever overwriting.

    An earlier log's hash is already on the record; replacing the file would
    turn honest evidence into 'altered after the fact'.
    """
    session_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = session_dir / (f"{name}.log" if n == 1 else f"{name}-{n}.log")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"{session_dir}: too many {name} logs")


TEE = Path(__file__).with_name("tee.py")


def run_teed(argv: list[str], log_path: Path, env: Mapping[str, str]) -> RunResult:
    """Runs the script in a session (and process group) of its own, its output
    piped to a log writer of its own (`tee.py`): the log first, the terminal
    second. Killing this process (even kill -9) stops neither: the script runs
    to its end and its output reaches the log; only the record of its end is lost,
    and `recorder_gone` lets the next command find that out."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(_signum: int, _frame: object) -> None:
        raise Interrupted

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    try:
        return _run(argv, log_path, env)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str], log_path: Path, env: Mapping[str, str]) -> RunResult:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    status_r, status_w = os.pipe()  # the writer's one line when the log could not be written
    try:
        try:
            child = subprocess.Popen(
                argv, stdout=out_w, stderr=err_w, env=dict(env), start_new_session=True
            )
        except OSError as e:
            message = f"opsledger: cannot start {argv[0]!r}: {e.strerror or e}\n"
            with log_path.open("ab") as log:
                log.write(message.encode())
                log.flush()
                os.fsync(log.fileno())
            code = 126 if isinstance(e, PermissionError) else 127
            sha, size = _digest(log_path)
            os.close(status_r)
            return RunResult("failed-to-start", code, sha, size, message.strip())
        os.close(out_w)
        os.close(err_w)
        out_w = err_w = -1
        writer = subprocess.Popen(
            [sys.executable, "-I", str(TEE), str(log_path), str(out_r), str(err_r),
             str(status_w)],
            pass_fds=(out_r, err_r, status_w),
            start_new_session=True,
        )
        os.close(status_w)
        status_w = -1
    except BaseException:
        os.close(status_r)
        raise
    finally:
        for fd in (out_r, out_w, err_r, err_w, status_w):
            if fd >= 0:
                os.close(fd)
    outcome, detail = "exited", ""
    try:
        code: int | None = child.wait()
    except (KeyboardInterrupt, Interrupted):
        outcome, detail = "interrupted", "interrupted by signal"
        code = _stop(child)
    with os.fdopen(status_r, "rb") as status:
        writer.wait()
        why = status.read(4096).decode("utf-8", "replace").strip()
    sha, size = _digest(log_path)
    if writer.returncode == 0:
        return RunResult(outcome, code, sha, size, detail)
    # The script ran to its end all the same (its output still reached the
    # terminal): its end is recorded, with the log as far as it got.
    why = why or f"its writer failed (exit {writer.returncode})"
    missing = f"{INCOMPLETE_LOG} ({why}): {size} bytes reached it"
    return RunResult(outcome, code, sha, size, f"{detail}; {missing}" if detail else missing,
                     log_complete=False)


def _digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of the log as it is on disk, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _stop(child: subprocess.Popen[bytes]) -> int | None:
    """Passes the interrupt on, then escalates: the script gets a chance to
    run its own safe-stop path before it is killed."""
    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if child.poll() is not None:
            break
        try:
            os.killpg(child.pid, sig)  # the script's group, as a Ctrl-C would reach it
            return child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
        except KeyboardInterrupt:
            continue  # a second Ctrl-C escalates at once
    return child.poll()


# --- is the recorder of a run still there? ------------------------------------------------

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def recorder_identity() -> dict[str, Any]:
    """What identifies this process later, beyond a pid that may be reused:
    the host, the boot (Linux) and the process's start time in clock ticks."""
    pid = os.getpid()
    identity: dict[str, Any] = {"pid": pid, "host": socket.gethostname()}
    boot, ticks = _boot_id(), _start_ticks(pid)
    if boot:
        identity["boot_id"] = boot
    if ticks is not None:
        identity["start_ticks"] = ticks
    return identity


def recorder_gone(identity: Mapping[str, Any]) -> bool | None:
    """True when the process `identity` names has ended (or the machine has
    rebooted since); False while it runs; None when this host cannot tell
    (it was another host)."""
    if identity.get("host") != socket.gethostname():
        return None
    boot = _boot_id()
    if identity.get("boot_id") and boot and identity["boot_id"] != boot:
        return True
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process holds the pid: compared below
    stat = _stat(pid)
    if stat is None:
        return False  # no /proc: the pid answers, take it as alive
    state, ticks = stat
    if state in ("Z", "X"):
        return True  # a zombie has ended; only its parent has not reaped it yet
    recorded = identity.get("start_ticks")
    return recorded is not None and ticks != recorded  # the pid was reused


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name may hold spaces and parens
    return fields[0], int(fields[19])


def _start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return stat[1] if stat else None
