"""Runs the app on uvicorn: binds first (so a port in use is one clear error),
says where it listens, stops gracefully on SIGTERM or SIGINT (requests in
flight finish, then the process exits 0)."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

GRACE_SECONDS = 10


def _logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    for name, level in (("opsledger.web", logging.INFO), ("uvicorn.error", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by the accepted connections (Linux): a response written as headers
    # then body is not held back ~40 ms by Nagle's algorithm meeting a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None],
                 url: str) -> None:
        super().__init__(config)
        self._on_ready, self._url = on_ready, url

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready(self._url)


def serve(app: Any, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serves until SIGTERM or SIGINT; returns once every request in flight is answered."""
    _logging()
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=GRACE_SECONDS, server_header=False)
    server = _Server(config, on_ready, f"http://{shown}:{bound}/")
    # uvicorn re-raises the signal that stopped it once it has shut down; a stop
    # asked for is this command's normal end, so the re-raised signal is ignored.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
