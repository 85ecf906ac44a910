"""A real server of Debian's (Prometheus, Alertmanager) run by a test: started
on 127.0.0.1 at a free port with its output in a log file, ready when its
`/-/ready` answers 200, and stopped at the end; only the process started here."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen
    log: Path


@contextmanager
def running(name: str, argv: Callable[[int], list[str]], *, log: Path, home: Path,
            timeout: float = 60.0, kind: type[Server] = Server) -> Iterator[Server]:
    """`argv(port)` started with HOME=`home`, until the block ends."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(argv(port), stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "HOME": str(home)})
    server = kind(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(name, server, timeout)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(name: str, server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready in {timeout:g} s: {server.log.read_text()[-2000:]}")
