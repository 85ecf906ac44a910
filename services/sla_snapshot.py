"""A session's metrics snapshot from Prometheus (runbook section 6, "Metrics
snapshots exported from Prometheus as `metrics_<timestamp>.json.gz`").

`take_snapshot` asks Prometheus' `query_range` for the series of every enabled
rule of the desk's SLA policy over the session's window, writes what came back
into the ticket's session folder as one Prometheus `query_range` document (the
answers' `data.result` lists joined, each query and its range kept beside
them), and then does what `sla evaluate` does with that file (services.sla,
one implementation): the file's digest and the breaches found in it are
recorded in one transaction, each breach once.

The window defaults to the session's: from the ticket's first deploy to the
end of its settle or kill (domain.ticket.runs.session_windows). The queried
range is widened to whole steps on the step grid (Grafana does the same), so
that samples scraped on that grid are read at their own times.

A caveat Prometheus imposes: `query_range` answers each step with the latest
sample within the server's lookback (5 min by default), so a silence shorter
than that shows only where Prometheus wrote a staleness marker (a failed
scrape, a vanished target). A heartbeat that stops while its target still
answers is seen through a counter (rule `beat = "increase"`), not a gap.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters import prometheus_http
from opsledger.domain.runbook import Role
from opsledger.domain.sla.policy import Matcher, normalise_metric, parse_matcher
from opsledger.domain.ticket.runs import session_windows
from opsledger.services.errors import Incomplete, InvalidRequest, Refused
from opsledger.services.sessions import default_session_dir
from opsledger.services.sla import desk_policy, evaluate_exports

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

DEFAULT_STEP = 15.0
MAX_POINTS = 11_000  # Prometheus refuses a query_range of more points per series
MAX_ANSWER = 16 << 20  # one query's answer, bytes; it is decoded whole to be joined
NAME_TRIES = 10
Progress = Callable[[int, int], None]  # (queries answered, queries)


def rule_queries(services: Services, policy_path: Path | None,
                 match: Sequence[str] = ()) -> dict[str, list[str]]:
    """PromQL selector -> the enabled rules it serves. Dots in a policy's metric
    names are Prometheus' underscores; `match` adds label matchers to every query
    (e.g. strategy="momo-1")."""
    extra = [str(_matcher(m)) for m in match]
    queries: dict[str, list[str]] = {}
    for rule in desk_policy(services, policy_path).policy.rules:
        if not rule.enabled:
            continue
        matchers = [str(m) for m in rule.matchers] + extra
        query = normalise_metric(rule.metric) + ("{" + ",".join(matchers) + "}" if matchers else "")
        queries.setdefault(query, []).append(rule.id)
    return queries


def _matcher(text: str) -> Matcher:
    try:
        return parse_matcher(text)
    except ValueError as e:
        raise InvalidRequest(f"--match {text!r}: {e}") from None


def session_window(services: Services, key: str, since: datetime | None,
                   until: datetime | None) -> tuple[datetime, datetime]:
    """The window asked for, the session's where not given."""
    windows = session_windows(services.app.get_ticket(key).commands)
    if since is None:
        if not windows:
            raise InvalidRequest(f"{key}: no deploy is recorded, so the session has no window: "
                                 "give --since and --until")
        since = windows[0][0]
    if until is None:
        end = windows[-1][1] if windows else None
        if end is None:
            raise InvalidRequest(
                f"{key}: no settle or kill is recorded after its deploy (the session is "
                "live, or never was): give --until" if windows else
                f"{key}: no deploy is recorded, so the session has no window: give --until")
        until = end
    if until <= since:
        raise InvalidRequest(f"the window ends ({until.isoformat()}) before it starts "
                             f"({since.isoformat()})")
    return since, until


def grid(since: datetime, until: datetime, step: float) -> tuple[datetime, datetime]:
    """The window widened to whole steps on the step grid."""
    if not (math.isfinite(step) and step > 0):
        raise InvalidRequest(f"--step must be a positive number of seconds, not {step}")
    start = math.floor(since.timestamp() / step) * step
    end = math.ceil(until.timestamp() / step) * step
    points = int((end - start) / step) + 1
    if points > MAX_POINTS:
        raise InvalidRequest(
            f"{points} steps of {step:g} s: Prometheus answers at most {MAX_POINTS} per "
            f"series; give a larger --step (at least {math.ceil((end - start) / MAX_POINTS)} s)")
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def take_snapshot(
    services: Services,
    key: str,
    prometheus_url: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    step_seconds: float = DEFAULT_STEP,
    match: Sequence[str] = (),
    session_dir: Path | None = None,
    policy_path: Path | None = None,
    allow_unmatched: bool = False,
    incident_ref: str = "",
    actor: str,
    role: Role | None = None,
    timeout: float = prometheus_http.DEFAULT_TIMEOUT,
    max_answer: int = MAX_ANSWER,
    taken_at: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Queries, writes, records and evaluates; nothing is written or recorded when a
    query fails. The document is `sla evaluate`'s, with `snapshot` added."""
    try:
        prometheus_http.check_url(prometheus_url)
    except prometheus_http.PrometheusError as e:
        raise InvalidRequest(str(e)) from None
    ticket = services.app.get_ticket(key)
    since, until = session_window(services, key, since, until)
    start, end = grid(since, until, step_seconds)
    queries = rule_queries(services, policy_path, match)
    results, asked = [], []
    for done, (query, rules) in enumerate(queries.items()):
        answer = _ask(prometheus_url, query, start, end, step_seconds, timeout, max_answer)
        results.extend(answer["data"]["result"])
        asked.append({"query": query, "rules": rules, "series": len(answer["data"]["result"]),
                      "warnings": answer.get("warnings", [])})
        if progress is not None:
            progress(done + 1, len(queries))
    source = prometheus_http.public_url(prometheus_url)
    document = {
        "status": "success",
        "opsledger_snapshot": {"ticket": key, "prometheus": source, "start": start.isoformat(),
                               "end": end.isoformat(), "step_seconds": step_seconds,
                               "queries": asked},
        "data": {"resultType": "matrix", "result": results},
    }
    data = gzip.compress(json.dumps(document, separators=(",", ":")).encode(), mtime=0)
    sha256 = hashlib.sha256(data).hexdigest()
    folder = session_dir if session_dir is not None else default_session_dir(
        ticket.session_date, key)
    path, written = _write(folder, data, sha256, ticket.snapshots,
                           taken_at or datetime.now(UTC))
    record = {"file": path.name, "path": str(path), "sha256": sha256, "size": len(data),
              "source": source, "since": start, "until": end, "step_seconds": step_seconds,
              "queries": {q: ",".join(r) for q, r in queries.items()}}
    recorded_before = sha256 in ticket.snapshots
    evaluated = evaluate_exports(
        services, key, [str(path)], policy_path=policy_path, since=since, until=until,
        allow_unmatched=allow_unmatched, incident_ref=incident_ref, actor=actor, role=role,
        snapshot=record,
    )
    shown = record | {"since": start.isoformat(), "until": end.isoformat(),
                      "window": [since.isoformat(), until.isoformat()], "written": written,
                      "recorded": not recorded_before, "series": len(results)}
    return evaluated | {"snapshot": shown}


def _ask(url: str, query: str, start: datetime, end: datetime, step: float, timeout: float,
         max_answer: int) -> dict[str, Any]:
    try:
        body = prometheus_http.query_range(url, query, start, end, step, timeout=timeout,
                                           max_bytes=max_answer)
    except prometheus_http.PrometheusUnreachable as e:
        raise Incomplete(f"{e}; nothing written or recorded") from None
    except prometheus_http.PrometheusAnswerError as e:
        raise Refused(f"{e}; nothing written or recorded") from None
    where = f"the answer to {query!r}"
    try:
        answer = json.loads(body)
    except ValueError as e:
        raise Refused(f"{where} is not JSON ({e}); nothing written or recorded") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise Refused(f"{where} is not a success: {error or str(answer)[:80]}; "
                      "nothing written or recorded")
    data = answer.get("data")
    if (not isinstance(data, dict) or data.get("resultType") != "matrix"
            or not isinstance(data.get("result"), list)):
        raise Refused(f"{where} is not a query_range matrix; nothing written or recorded")
    return answer


def _write(folder: Path, data: bytes, sha256: str, recorded: dict[str, str],
           taken_at: datetime) -> tuple[Path, bool]:
    """The snapshot's file: a recorded one with these very bytes still in the
    folder is kept (not written twice), else a new metrics_<UTC time>.json.gz."""
    same = recorded.get(sha256)
    if same is not None and (folder / same).is_file():
        if hashlib.sha256((folder / same).read_bytes()).hexdigest() == sha256:
            return folder / same, False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidRequest(f"{folder}: {e.strerror or e}") from None
    # Two snapshots within a second: the later one is named a second on.
    for later in range(NAME_TRIES):
        path = folder / f"metrics_{taken_at.astimezone(UTC) + timedelta(seconds=later):%Y%m%dT%H%M%SZ}.json.gz"
        try:
            with open(path, "xb") as out:
                out.write(data)
            break
        except FileExistsError:
            if path.read_bytes() == data:
                return path, False
        except OSError as e:
            raise InvalidRequest(f"{path}: {e.strerror or e}") from None
    else:
        raise Refused(f"{folder}: metrics_ files for the next {NAME_TRIES} seconds exist already")
    return path, True
