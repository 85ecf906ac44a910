"""Prometheus' HTTP API, read with the standard library (`urllib.request`).

One call, `query_range`: GET <base>/api/v1/query_range with the query, start, end
and step; the answer's bytes come back as Prometheus sent them (the service checks
and keeps them). Every call is bounded: a timeout per request and a cap on the
answer's size (a server, or something posing as one, cannot fill memory). What can
go wrong says so in one line: `PrometheusUnreachable` (refused, timed out, a name
that does not resolve), `PrometheusAnswerError` (an HTTP error status, Prometheus'
own `"status": "error"`, an answer over the cap).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 64 << 20  # one query's answer; a 4 h session at 15 s is ~100 KB a series
_ERROR_BODY = 64 << 10


class PrometheusError(Exception):
    """Prometheus could not answer a query as asked."""


class PrometheusUnreachable(PrometheusError):
    """No HTTP answer at all: refused, timed out, reset, an unknown host."""


class PrometheusAnswerError(PrometheusError):
    """An answer, but not data: an HTTP error, Prometheus' `status: error`, too large."""


def public_url(base_url: str) -> str:
    """The server's URL as it may be recorded: without user, password, query or fragment."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def check_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = base_url if parts.password is None else base_url.replace(parts.password, "***")
        raise PrometheusAnswerError(
            f"{shown!r} is not a Prometheus URL (http[s]://host:port[/prefix])")


def query_range(
    base_url: str,
    query: str,
    start: datetime,
    end: datetime,
    step_seconds: float,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """The raw JSON answer of one `query_range` call."""
    check_url(base_url)
    params = urlencode({"query": query, "start": f"{start.timestamp():.3f}",
                        "end": f"{end.timestamp():.3f}", "step": f"{step_seconds:g}"})
    url = f"{base_url.rstrip('/')}/api/v1/query_range?{params}"
    where = public_url(base_url)
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "opsledger"})
    try:
        deadline = time.monotonic() + timeout
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) only
            return _bounded(answer, max_bytes, where, deadline)
    except urllib.error.HTTPError as e:
        raise PrometheusAnswerError(
            f"Prometheus at {where} answered HTTP {e.code} to {query!r}: {_error_of(e)}"
        ) from None
    except urllib.error.URLError as e:
        reason = e.reason
        text = getattr(reason, "strerror", None) or str(reason)
        raise PrometheusUnreachable(f"Prometheus at {where} is unreachable: {text}") from None
    except TimeoutError:
        raise PrometheusUnreachable(
            f"Prometheus at {where} did not answer within {timeout:g} s") from None
    except (ConnectionError, OSError) as e:
        raise PrometheusUnreachable(
            f"Prometheus at {where} is unreachable: {e.strerror or e}") from None


def _bounded(answer, max_bytes: int, where: str, deadline: float) -> bytes:
    length = answer.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise PrometheusAnswerError(
            f"Prometheus at {where} answered {int(length)} bytes, over the cap of {max_bytes}: "
            "query a shorter window or a larger --step")
    # One deadline for the whole answer: a server trickling a byte a second never
    # trips the per-read timeout, and would hold the command forever.
    chunks, size = [], 0
    while size <= max_bytes:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = answer.read1(min(1 << 16, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    body = b"".join(chunks)
    if len(body) > max_bytes:
        raise PrometheusAnswerError(
            f"Prometheus at {where} answered more than the cap of {max_bytes} bytes: "
            "query a shorter window or a larger --step")
    return body


def _error_of(error: urllib.error.HTTPError) -> str:
    """Prometheus' own words for an error (`errorType: error`), else the reason."""
    try:
        body = error.read(_ERROR_BODY)
    except OSError:
        body = b""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("status") == "error":
        return f"{document.get('errorType')}: {document.get('error')}"
    return str(error.reason)
