"""The tlog-witness HTTP binding: the witness's server and the log's client.

Server: the standard library's `ThreadingHTTPServer`, HTTP/1.1 keep-alive,
one route, ``POST <prefix>/add-checkpoint``; the body (Content-Length
required, at most 64 KiB) goes to a handler of plain values (the service's
protocol logic) and its (status, content type, body) goes back. SIGINT and
SIGTERM stop it gracefully: the listening socket closes, requests in flight
finish.

Client: one keep-alive connection per witness (`WitnessClient`), bounded by a
timeout; an unreachable witness is `WitnessUnreachable`.
"""

from __future__ import annotations

import http.client
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MAX_BODY = 64 << 10
Handler = Callable[[bytes], tuple[int, str, bytes]]
Log = Callable[[str], None]


class WitnessUnreachable(Exception):
    """No HTTP answer from the witness (refused, timed out, reset, bad URL)."""


def make_server(host: str, port: int, handle: Handler, *, prefix: str = "",
                log: Log | None = None) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0: any free port, see `server_address`)."""
    route = prefix.rstrip("/") + "/add-checkpoint"

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a client that stops sending does not hold a thread forever
        server_version = "opsledger-witness"
        disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 - the http.server naming
            if self.path != route:
                return self._reply(404, "text/plain", b"not found\n")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                return self._reply(411, "text/plain", b"Content-Length required\n")
            if int(length) > MAX_BODY:
                self.close_connection = True
                return self._reply(413, "text/plain", b"request body too large\n")
            body = self.rfile.read(int(length))
            status, content_type, answer = handle(body)
            self._reply(status, content_type, answer)

        def do_GET(self) -> None:  # noqa: N802
            self._reply(405, "text/plain", b"POST <prefix>/add-checkpoint\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            if log is not None:
                log(f"{self.address_string()} {format % args}")

    server = ThreadingHTTPServer((host, port), RequestHandler)
    server.daemon_threads = True
    return server


def serve_until_signalled(server: ThreadingHTTPServer) -> None:
    """Serves until SIGINT or SIGTERM (when called from the main thread) or
    `server.shutdown()`; then closes the listening socket."""
    previous = {}

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class WitnessClient:
    """POSTs add-checkpoint requests to one witness over one kept-alive connection."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WitnessUnreachable(f"{url}: not an http(s):// URL")
        self.url = url
        self._path = parts.path.rstrip("/") + "/add-checkpoint"
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._connection = connection(parts.hostname, parts.port, timeout=timeout)

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) of the witness's answer."""
        try:
            self._connection.request("POST", self._path, body=body,
                                     headers={"Content-Type": "text/plain"})
            response = self._connection.getresponse()
            data = response.read(MAX_BODY + 1)
        except (OSError, http.client.HTTPException) as e:
            self._connection.close()
            raise WitnessUnreachable(f"{self.url}: {e or type(e).__name__}") from None
        if len(data) > MAX_BODY:
            self._connection.close()
            raise WitnessUnreachable(f"{self.url}: answered with over {MAX_BODY} bytes")
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return response.status, content_type, data

    def close(self) -> None:
        self._connection.close()
