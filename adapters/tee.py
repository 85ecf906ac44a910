"""The log writer of `opsledger run`: a process of its own, so that the script's
output still reaches its log when the recorder is gone.

Run as `python -I tee.py LOG STDOUT_FD STDERR_FD` (standard library only, no
package import): it copies the script's two pipes into LOG first, whole lines
interleaved, then raw to its own stdout and stderr (the terminal). A terminal
that goes away only stops the echo; the log is written until both pipes end.
Exit 0 when every byte reached the log, 1 (a line on stderr) when it did not.
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
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                if cut or len(pending) >= MAX_PARTIAL_LINE:
                    cut = cut or len(pending)
                    self.to_log(pending[:cut])
                    pending = pending[cut:]
                if echo:
                    echo = _echo(terminal, chunk)
            if pending:
                self.to_log(pending)
        except BaseException as e:  # reported by main, never lost in a thread
            self.error = e
            _drain(source)  # keep the script from blocking on a full pipe


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
        _echo(2, f"opsledger: writing {log_path} failed: {tee.error}\n".encode())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
