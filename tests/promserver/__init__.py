"""A real Prometheus (Debian's 2.42) holding a generated trading session.

The session's series are written as OpenMetrics text, made into TSDB blocks by
`promtool tsdb create-blocks-from openmetrics`, and served by `prometheus` on
127.0.0.1 at a free port, with no scrape targets (the data is all backfilled).
Times are in the recent past, on the 15 s grid Prometheus scrapes at by default,
so that a `query_range` on that grid reads each sample at its own time.

The series are the runbook's as the SLA policy names them (dots as Prometheus'
underscores): three component heartbeats and the risk heartbeat as counters
that move every 15 s, order latency p95 in ms, position drift in % of notional;
for strategy momo-1, and a second strategy that a query must tell apart. The
one genuine breach of momo-1 is order latency above 120 ms from `breach_start`
to `breach_end` (both breaching samples); other-2 breaches latency elsewhere.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from realserver import Server, running

STEP = 15
STRATEGY = "momo-1"
OTHER = "other-2"


def binaries() -> tuple[str | None, str | None]:
    return shutil.which("prometheus"), shutil.which("promtool")


@dataclass(frozen=True)
class Session:
    """The generated session's times (UTC, on the 15 s grid)."""

    start: datetime
    end: datetime
    breach_start: datetime
    breach_end: datetime
    other_breach_start: datetime

    @classmethod
    def recent(cls, now: datetime | None = None) -> Session:
        """Two hours that ended half an hour ago; the breach 40 to 43 minutes in."""
        now = now or datetime.now(UTC)
        end = datetime.fromtimestamp(math.floor(now.timestamp() / STEP) * STEP, UTC)
        end -= timedelta(minutes=30)
        start = end - timedelta(hours=2)
        return cls(start, end, start + timedelta(minutes=40), start + timedelta(minutes=43),
                   start + timedelta(minutes=70))


def latency(t: datetime, session: Session, strategy: str) -> float:
    offset = (t - session.start).total_seconds()
    base = 70 + 15 * math.sin(offset / 600) + 5 * math.sin(offset / 37)  # 50 .. 90 ms
    if strategy == STRATEGY and session.breach_start <= t <= session.breach_end:
        return 150 + 10 * math.sin(offset / 20)
    if strategy == OTHER and session.other_breach_start <= t <= (
            session.other_breach_start + timedelta(minutes=2)):
        return 190.0
    return base


def openmetrics(session: Session) -> str:
    """The session as OpenMetrics text: ten minutes of data either side of it."""
    first = session.start - timedelta(minutes=10)
    count = int((session.end - first).total_seconds() // STEP) + 41
    moments = [first + timedelta(seconds=STEP * k) for k in range(count)]
    lines: list[str] = []

    def family(name: str, help_text: str, value) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for strategy in (STRATEGY, OTHER):
            for k, t in enumerate(moments):
                lines.append(f'{name}{{strategy="{strategy}"}} '
                             f"{value(k, t, strategy)!r} {int(t.timestamp())}")

    family("metrics_execution_latency", "Order round-trip latency p95, ms.",
           lambda k, t, s: round(latency(t, session, s), 3))
    family("metrics_portfolio_drift", "Position drift vs target, % of notional.",
           lambda k, t, s: round(0.15 + 0.05 * math.sin(k / 60), 4))
    for component in ("ingestion", "feature_store", "execution", "risk"):
        family(f"metrics_{component}_heartbeat", f"{component} heartbeats.",
               lambda k, t, s: float(k + 1))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def build_blocks(session: Session, data_dir: Path) -> None:
    _, promtool = binaries()
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "session.om.txt"
    source.write_text(openmetrics(session))
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                    str(source), str(data_dir)], check=True, capture_output=True, timeout=120)


def serve(data_dir: Path, *, timeout: float = 60.0) -> Iterator[Server]:
    """Prometheus on the blocks in `data_dir` until the generator is closed."""
    prometheus, _ = binaries()
    config = data_dir.parent / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    with running("prometheus", lambda port: [
            prometheus, f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=10y",
            "--web.enable-lifecycle"],
            log=data_dir.parent / "prometheus.log", home=data_dir.parent,
            timeout=timeout) as server:
        yield server
