"""The points of a breach's metric around its window, from the session's
metrics snapshot (the `metrics_*.json[.gz]` Prometheus exports of the session
folder), for a chart: what the SLA packet judged, on the scale it judged it.

A threshold rule's samples are shown as the rule reads them (scaled, absolute
when the rule says so); a heartbeat's as the gap since the beat before, so
both are drawn against the breach's recorded threshold.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.archiver.stores.errors import StoreError
from opsledger.archiver.verify.tag_reader import read_members
from opsledger.domain.sla import HeartbeatRule, ThresholdRule, iter_prometheus, merge_series
from opsledger.domain.sla.errors import SlaError
from opsledger.domain.sla.heartbeat import beat_times
from opsledger.domain.sla.policy import normalise_metric
from opsledger.services.sessions import default_session_dir
from opsledger.services.settings import SettingsError
from opsledger.services.sla import desk_policy
from opsledger.services.views import fresh_reader

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

SNAPSHOT_PATTERNS = ("metrics_*.json.gz", "metrics_*.json")
# The same files as sealed in an archive: the session folder's top level, under data/.
_SNAPSHOT_MEMBER = re.compile(r"data/metrics_[^/]*\.json(\.gz)?")
MAX_SNAPSHOT = 256 << 20  # an archived snapshot read for a chart, at most
MAX_POINTS = 720  # about one per horizontal pixel of the chart
MIN_MARGIN_S = 600.0  # ten minutes either side of a short breach


def snapshot_files(session_dir: Path) -> list[Path]:
    """The session's metrics exports, in name (timestamp) order."""
    found = {p for pattern in SNAPSHOT_PATTERNS for p in session_dir.glob(pattern) if p.is_file()}
    return sorted(found)


def breach_charts(
    services: Services,
    breaches: Sequence[Mapping[str, Any]],
    *,
    session_dirs: Mapping[str, Path] | None = None,
) -> dict[str, dict[str, Any]]:
    """A chart document per breach id (`breach_series`), each ticket's snapshot
    read once; `session_dirs` names a ticket's folder, else its default one,
    and when that holds no snapshot (pruned at close, or another machine's),
    the snapshot sealed in the ticket's latest archive."""
    tickets = sorted({b["ticket"] for b in breaches})
    dirs = dict(session_dirs or {})
    reader = fresh_reader(services, ["tickets"]) if any(t not in dirs for t in tickets) else None
    policy = desk_policy(services).policy
    charts: dict[str, dict[str, Any]] = {}
    for ticket in tickets:
        own = [b for b in breaches if b["ticket"] == ticket]
        unread = None  # why the archive's snapshot could not be read, if it could not
        if ticket in dirs:
            snapshots = _on_disk(snapshot_files(dirs[ticket]))
        else:
            document = reader.ticket(ticket)
            folder = default_session_dir(document["session_date"], ticket)
            snapshots = _on_disk(snapshot_files(folder))
            if not snapshots:
                snapshots, unread = _archived(services, document)
        series, problem = _read(snapshots, {b["metric"] for b in own})
        problem = problem or unread
        for breach in own:
            charts[breach["breach_id"]] = breach_series(breach, series, policy=policy,
                                                        sources=[n for n, _ in snapshots],
                                                        problem=problem)
    return charts


Snapshot = tuple[str, Callable[[], bytes]]  # (where it is read from, its bytes)


def _on_disk(files: Sequence[Path]) -> list[Snapshot]:
    return [(f.name, f.read_bytes) for f in files]


def _archived(services: Services, ticket: Mapping[str, Any]) -> tuple[list[Snapshot], str | None]:
    """The metrics snapshots sealed in the ticket's latest archive, read from
    the store under the verifier's caps (only for a chart: the archive's own
    verification is `archive verify`); and why they could not be, if so. An
    archive that is gone, or holds none, is no snapshot (the chart says so)."""
    archives = ticket.get("archives") or []
    if not archives:
        return [], None
    latest = archives[-1]
    key = (latest["location"], latest["archive_sha256"])  # a sealed archive never changes
    found = _ARCHIVED.get(key)
    if found is None:
        try:
            store, name = services.store_and_name(latest["location"])
            with store.open_archive(name) as stream:
                read = read_members(stream, _SNAPSHOT_MEMBER.fullmatch, max_bytes=MAX_SNAPSHOT,
                                    enough=lambda _found, rel: rel == "bag-info.txt")
        except (StoreError, SettingsError, OSError):
            return [], None
        if read.problem is not None and not read.found:
            return [], f"the metrics snapshot in {name} could not be read: {read.problem}"
        found = [(f"{rel.removeprefix('data/')} in {name}", data)
                 for rel, data in sorted(read.found.items())]
        _ARCHIVED.put(key, found)
    return [(source, lambda data=data: data) for source, data in found], None


class _Recent:
    """The snapshots last read out of archives, up to `budget` bytes in all: a
    page drawn again does not decompress the same archive again."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.entries: OrderedDict[tuple[str, str], list[tuple[str, bytes]]] = OrderedDict()
        self.size = 0  # bytes held in all
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> list[tuple[str, bytes]] | None:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
            return self.entries.get(key)

    def put(self, key: tuple[str, str], found: list[tuple[str, bytes]]) -> None:
        size = _bytes(found)
        if size > self.budget:
            return
        with self.lock:
            if key in self.entries:
                self.size -= _bytes(self.entries.pop(key))
            self.entries[key] = found
            self.size += size
            while self.size > self.budget:
                self.size -= _bytes(self.entries.popitem(last=False)[1])


def _bytes(found: list[tuple[str, bytes]]) -> int:
    return sum(len(data) for _, data in found)


_ARCHIVED = _Recent(64 << 20)


def _read(snapshots: Iterable[Snapshot], metrics: set[str]) -> tuple[list[Any], str | None]:
    wanted = {normalise_metric(m) for m in metrics}

    def keep(metric: str | None, _labels: object) -> bool:
        return metric is not None and normalise_metric(metric) in wanted

    parts: list[Any] = []
    try:
        for name, data in snapshots:
            parts.extend(s for s in iter_prometheus(data(), name, keep=keep)
                         if s.metric is not None and normalise_metric(s.metric) in wanted)
    except (OSError, SlaError) as e:
        return [], f"the metrics snapshot could not be read: {e}"
    return merge_series(parts), None


def _ts(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def breach_series(
    breach: Mapping[str, Any],
    series: Sequence[Any],
    *,
    policy: Any,
    sources: Sequence[str],
    problem: str | None = None,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """The chart document of one breach: `points` ([unix seconds, value]) from
    `start_ts` to `end_ts`, the window, the recorded threshold and unit."""
    w0, w1 = _ts(breach["window_start"]), _ts(breach["window_end"])
    margin = max(MIN_MARGIN_S, 2.0 * (w1 - w0))
    start, end = w0 - margin, w1 + margin
    try:
        rule = policy.rule(breach["rule"])
    except KeyError:
        rule = None
    heartbeat = isinstance(rule, HeartbeatRule) or (rule is None and breach["unit"] == "s"
                                                    and "gap" in str(breach["comparison"]))
    chart: dict[str, Any] = {
        "breach_id": breach["breach_id"], "ticket": breach["ticket"], "rule": breach["rule"],
        "metric": breach["metric"], "unit": breach["unit"], "threshold": breach["threshold"],
        "quantity": ("seconds since the previous beat" if heartbeat
                     else f"{getattr(rule, 'statistic', 'value')} of {breach['metric']}"),
        "title": f"{breach['rule']}: {breach['metric']} around the breach of "
                 f"{breach['window_start']}",
        "window_start_ts": w0, "window_end_ts": w1, "start_ts": start, "end_ts": end,
        "source": ", ".join(sources), "points": [], "samples": 0, "note": problem,
        "step": heartbeat,
    }
    if problem:
        return chart
    if not sources:
        chart["note"] = ("no metrics snapshot (metrics_*.json.gz) in the session folder or in "
                         "its archive")
        return chart
    labels = dict(breach.get("labels") or {})
    found = [s for s in series if normalise_metric(s.metric) == normalise_metric(breach["metric"])
             and all(dict(s.labels).get(k) == v for k, v in labels.items())]
    if not found:
        chart["note"] = f"the snapshot holds no series {breach['metric']} {labels or ''}".rstrip()
        return chart
    one = found[0]
    if heartbeat:
        beats = (beat_times(rule, one.timestamps, one.values) if rule is not None
                 else [t for t, v in zip(one.timestamps, one.values, strict=True) if v == v])
        points = [(b, b - a) for a, b in zip(beats, beats[1:], strict=False)]
    else:
        points = list(zip(one.timestamps, _scaled(rule, one.values), strict=True))
    points = [(t, v) for t, v in points if start <= t <= end]
    chart["samples"] = len(points)
    chart["points"] = [[t, v] for t, v in _thin(points, max_points)]
    if not points:
        chart["note"] = "the snapshot holds no sample in this window"
    return chart


def _scaled(rule: ThresholdRule | None, values: Sequence[float]) -> list[float]:
    if not isinstance(rule, ThresholdRule):
        return list(values)
    scale = rule.scale
    return [abs(v) * scale if rule.absolute else v * scale for v in values]


def _thin(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most about `limit` points: each bucket keeps its lowest and highest
    sample, so a spike (the breach itself) is never thinned away."""
    if len(points) <= limit:
        return points
    per = -(-len(points) // (limit // 2))
    out: list[tuple[float, float]] = []
    for i in range(0, len(points), per):
        bucket = points[i:i + per]
        finite = [p for p in bucket if p[1] == p[1]]
        if not finite:
            out.append(bucket[0])
            continue
        low, high = min(finite, key=lambda p: p[1]), max(finite, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out
