"""adapters/prometheus_http.py against small stdlib servers that misbehave as a
Prometheus (or something in its place) may: each failure is one clear line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opsledger.adapters.prometheus_http import (
    PrometheusAnswerError,
    PrometheusUnreachable,
    public_url,
    query_range,
)

END = datetime(2026, 11, 23, 14, tzinfo=UTC)
START = END - timedelta(hours=1)


def serve(status: int, body: bytes, delay: float = 0.0) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()  # no Content-Length: the cap must hold while reading
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def answering(request) -> Iterator[str]:
    yield from serve(*request.param)


OK = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()
ERROR = json.dumps({"status": "error", "errorType": "bad_data",
                    "error": "parse error at char 4"}).encode()


@pytest.mark.parametrize("answering", [(200, OK)], indirect=True)
def test_an_answer_comes_back_as_sent(answering):
    assert query_range(answering, "up", START, END, 15) == OK


@pytest.mark.parametrize("answering", [(400, ERROR)], indirect=True)
def test_prometheus_own_error_is_named(answering):
    with pytest.raises(PrometheusAnswerError, match="HTTP 400.*bad_data: parse error at char 4"):
        query_range(answering, "up{", START, END, 15)


@pytest.mark.parametrize("answering", [(503, b"<html>overloaded</html>")], indirect=True)
def test_a_server_error_without_json_is_named_by_its_reason(answering):
    with pytest.raises(PrometheusAnswerError, match="HTTP 503"):
        query_range(answering, "up", START, END, 15)


@pytest.mark.parametrize("answering", [(200, b"[" + b"0," * 600_000 + b"0]")], indirect=True)
def test_an_answer_over_the_cap_is_refused(answering):
    with pytest.raises(PrometheusAnswerError, match="more than the cap of 1000000 bytes"):
        query_range(answering, "up", START, END, 15, max_bytes=1_000_000)


@pytest.mark.parametrize("answering", [(200, OK, 3.0)], indirect=True)
def test_a_slow_server_times_out(answering):
    with pytest.raises(PrometheusUnreachable, match="did not answer within 0.5 s|timed out"):
        query_range(answering, "up", START, END, 15, timeout=0.5)


def test_nobody_listening_is_unreachable():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PrometheusUnreachable, match="refused"):
        query_range(f"http://127.0.0.1:{port}", "up", START, END, 15)


def test_not_a_url_is_refused_before_any_request():
    with pytest.raises(PrometheusAnswerError, match="not a Prometheus URL"):
        query_range("file:///etc/passwd", "up", START, END, 15)


def test_the_recorded_url_carries_no_credentials():
    assert public_url("https://me:secret@prom.example:9090/prom/?x=1#f") == (
        "https://prom.example:9090/prom")


def test_a_server_that_trickles_its_answer_is_cut_off_by_one_deadline():
    """A byte every 0.1 s never trips a per-read timeout: the whole answer has one."""

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    began = time.monotonic()
    try:
        with pytest.raises(PrometheusUnreachable, match="within 1 s"):
            query_range(f"http://127.0.0.1:{server.server_address[1]}", "up", START, END, 15,
                        timeout=1)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - began < 5


def test_a_url_with_credentials_or_a_bad_port_is_refused_without_echoing_them():
    for url in ("htp://me:s3cr3t@prom:9090", "http://me:s3cr3t@prom:99999"):
        with pytest.raises(PrometheusAnswerError) as refused:
            query_range(url, "up", START, END, 15)
        assert "s3cr3t" not in str(refused.value)
