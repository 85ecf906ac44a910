"""Runs a launch/halt script, teeing its output live to the terminal and a log.

The log is streamed (never held in memory) and hashed as it is written, so the
SHA-256 recorded at the end is of exactly the bytes on disk.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 16
# A line longer than this goes to the log in pieces rather than held in memory.
MAX_PARTIAL_LINE = 1 << 16


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the script ran."""


@dataclass(frozen=True)
class RunResult:
    outcome: str  # "exited", "failed-to-start" or "interrupted"
    exit_code: int | None
    log_sha256: str
    log_bytes: int
    detail: str = ""


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


class _Tee:
    def __init__(self, log: BinaryIO) -> None:
        self.log = log
        self.lock = threading.Lock()
        self.digest = hashlib.sha256()
        self.size = 0
        self.error: BaseException | None = None

    def write(self, data: bytes, terminal: BinaryIO | None) -> None:
        with self.lock:
            self.log.write(data)
            self.digest.update(data)
            self.size += len(data)
        self.echo(data, terminal)

    def pump(self, source: BinaryIO, terminal: BinaryIO | None) -> None:
        """Copies one pipe: raw and at once to the terminal, whole lines to the
        log, so stdout and stderr interleave by line there, never mid-line."""
        pending = b""
        try:
            fd = source.fileno()
            while chunk := os.read(fd, CHUNK):
                self.echo(chunk, terminal)
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                if cut == 0 and len(pending) < MAX_PARTIAL_LINE:
                    continue
                cut = cut or len(pending)
                self.write(pending[:cut], None)
                pending = pending[cut:]
            if pending:
                self.write(pending, None)
        except BaseException as e:  # surfaced by the caller, never lost in a thread
            self.error = e

    @staticmethod
    def echo(data: bytes, terminal: BinaryIO | None) -> None:
        if terminal is None:
            return
        try:
            terminal.write(data)
            terminal.flush()
        except (BrokenPipeError, ValueError):
            pass  # a closed terminal must not stop the log


def _terminal(stream: object) -> BinaryIO | None:
    return getattr(stream, "buffer", None)


def run_teed(argv: list[str], log_path: Path, env: Mapping[str, str]) -> RunResult:
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(_signum: int, _frame: object) -> None:
        raise Interrupted

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    try:
        # Unbuffered: the log on disk is as live as the terminal.
        with log_path.open("wb", buffering=0) as log:
            tee = _Tee(log)
            try:
                child = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env)
                )
            except OSError as e:
                message = f"opsledger: cannot start {argv[0]!r}: {e.strerror or e}\n"
                tee.write(message.encode(), None)
                log.flush()
                os.fsync(log.fileno())
                code = 126 if isinstance(e, PermissionError) else 127
                return RunResult(
                    "failed-to-start", code, tee.digest.hexdigest(), tee.size, message.strip()
                )
            assert child.stdout is not None and child.stderr is not None
            pumps = [
                threading.Thread(target=tee.pump, args=(child.stdout, _terminal(sys.stdout))),
                threading.Thread(target=tee.pump, args=(child.stderr, _terminal(sys.stderr))),
            ]
            for pump in pumps:
                pump.daemon = True
                pump.start()
            outcome, detail = "exited", ""
            try:
                code: int | None = child.wait()
            except (KeyboardInterrupt, Interrupted):
                outcome, detail = "interrupted", "interrupted by signal"
                code = _stop(child)
            for pump in pumps:
                pump.join()
            if tee.error is not None:
                raise tee.error
            log.flush()
            os.fsync(log.fileno())
            return RunResult(outcome, code, tee.digest.hexdigest(), tee.size, detail)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def _stop(child: subprocess.Popen[bytes]) -> int | None:
    """Passes the interrupt on, then escalates: the script gets a chance to
    run its own safe-stop path before it is killed."""
    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if child.poll() is not None:
            break
        try:
            child.send_signal(sig)
            return child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue  # a second Ctrl-C escalates at once
    return child.poll()
