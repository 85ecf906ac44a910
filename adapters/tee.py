"""The log writer of `opsledger run`: a process of its own, so that the script's
output still reaches its log when the recorder is gone.

Run as `python -I tee.py LOG STDOUT_FD STDERR_FD [STATUS_FD]` (standard
library only, no package import): it copies the script's two pipes into LOG
first, whole lines interleaved, then raw to its own stdout and stderr (the
terminal). A terminal that goes away only stops the echo; the log is written
until both pipes end. A log that cannot be written (a full disk) only stops
the log: the terminal still shows everything, and the script is never
blocked, so a `kill` runs to its end whatever the disk. Exit 0 when every
byte reached the log, 1 when it did not, with one line saying why on stderr
and on STATUS_FD.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

CHUNK = 1 << 16
# A line longer than this goes to the log in pieces rather than held in memory.
MAX_PARTIAL_LINE = 1 << 16


class Tee:
    def __init__(self, log_fd: int) -> None:
        self.log_fd = log_fd
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def to_log(self, data: bytes) -> None:
        with self.lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self.log_fd, view):]

    def pump(self, source: int, terminal: int) -> None:
        """The log first, whole lines; the terminal second, raw and at once."""
        pending = b""
        echo = True
        try:
            while chunk := os.read(source, CHUNK):
                if self.error is None:
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    if cut or len(pending) >= MAX_PARTIAL_LINE:
                        cut = cut or len(pending)
                        pending = self.logged(pending, cut)
                if echo:
                    echo = _echo(terminal, chunk)
            if pending and self.error is None:
                self.logged(pending, len(pending))
        except BaseException as e:  # reported by main, never lost in a thread
            self.error = self.error or e
            _drain(source)  # keep the script from blocking on a full pipe

    def logged(self, pending: bytes, cut: int) -> bytes:
        """Writes `pending[:cut]` to the log; what is left of `pending`. A failed
        write is kept as the error, and the log is written no more."""
        try:
            self.to_log(pending[:cut])
        except OSError as e:
            self.error = self.error or e
            return b""
        return pending[cut:]


def _echo(terminal: int, data: bytes) -> bool:
    """Writes to the terminal; False once it is gone (closed pipe, hung-up tty)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(terminal, view):]
        return True
    except OSError:
        return False


def _drain(source: int) -> None:
    try:
        while os.read(source, CHUNK):
            pass
    except OSError:
        pass


def main(argv: list[str]) -> int:
    # Neither the terminal's Ctrl-C nor its hangup stops the log: the recorder
    # decides what the script is told, and the log ends when the script's output does.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    log_path, out_fd, err_fd = argv[0], int(argv[1]), int(argv[2])
    status_fd = int(argv[3]) if len(argv) > 3 else None
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    tee = Tee(log_fd)
    pumps = [threading.Thread(target=tee.pump, args=(out_fd, 1)),
             threading.Thread(target=tee.pump, args=(err_fd, 2))]
    for pump in pumps:
        pump.start()
    for pump in pumps:
        pump.join()
    try:
        os.fsync(log_fd)
    except OSError as e:
        tee.error = tee.error or e
    os.close(log_fd)
    if tee.error is not None:
        reason = getattr(tee.error, "strerror", None) or str(tee.error) or type(tee.error).__name__
        _echo(2, f"opsledger: writing {log_path} failed: {reason}\n".encode())
        if status_fd is not None:
            _echo(status_fd, reason.encode())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
