"""Catch-up, rebuild, time travel and queries, on a SQLite view store.

The same behaviour on PostgreSQL, and under random histories, is checked in
tests/integration/test_projections_determinism.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.application import OpsLedger
from opsledger.domain.persistence import CanonicalJSONTranscoder
from opsledger.domain.runbook import Command, Role, Severity
from opsledger.projections import (
    EventLog,
    IncidentQuery,
    InvalidQuery,
    NotInView,
    Progress,
    Projector,
    RebuildSuperseded,
    UndecodableEvent,
    UnknownView,
    ViewOutdated,
    ViewReader,
)
from opsledger.projections.catalog import all_views
from opsledger.projections.sqlite import SQLiteViewStore
from opsledger.projections.tickets import TicketsView
from story import FILE_SHA, PEOPLE, approve_all, attach_all, open_ticket, staff

OPERATOR = PEOPLE[Role.OPERATOR]
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def app() -> OpsLedger:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    staff(app)
    return app


@pytest.fixture
def views(tmp_path: Path):
    store = SQLiteViewStore(tmp_path / "views.sqlite")
    yield store
    store.close()


def projector(app: Any, store: SQLiteViewStore, **kw: Any) -> Projector:
    return Projector(EventLog(app.recorder, app.mapper), store, **kw)


def reader(app: Any, store: SQLiteViewStore) -> ViewReader:
    return ViewReader(store, EventLog(app.recorder, app.mapper))


def session(app: OpsLedger, key: str, strategy: str = "momo-1", breaches: int = 2) -> None:
    app.open_ticket(key=key, strategy=strategy, env="prod", artifact_digest="sha256:" + "ab" * 32,
                    actor=PEOPLE[Role.DEV_LEAD], role=Role.DEV_LEAD)
    attach_all(app, key)
    approve_all(app, key)
    run_id, _, _ = app.start_command(key, command=Command.DEPLOY, argv=["deploy"], log_path="d.log",
                                     actor=OPERATOR, role=Role.OPERATOR)
    app.finish_command(key, run_id=run_id, outcome="exited", exit_code=0, log_sha256=FILE_SHA,
                       log_bytes=9, actor=OPERATOR, role=Role.OPERATOR)
    app.set_flag("live.enabled", value="true", actor=OPERATOR, role=Role.OPERATOR,
                 reason=f"deploy {key}", ticket=key)
    app.observe_flag(key, run_id=run_id, actor=OPERATOR, role=Role.OPERATOR)
    for n in range(breaches):
        start = START + timedelta(hours=n)
        app.record_breach(key, breach={
            "breach_id": f"{key}-{n}", "rule": "r", "metric": ("metrics.execution.latency",
                                                             "metrics.heartbeat")[n % 2],
            "labels": {}, "threshold": 120.0, "unit": "ms", "comparison": "p95 < 120 ms",
            "observed": 150.0 + n, "window_start": start, "window_end": start + timedelta(minutes=3),
            "samples": 3, "severity": (Severity.WARNING, Severity.PAGE)[n % 2],
            "escalation": "Execution Trader", "source": "prometheus", "detail": "", "incident_ref": f"INC-{n}",
        }, actor=OPERATOR, role=Role.OPERATOR)
    app.set_flag("live.enabled", value="false", actor=OPERATOR, role=Role.OPERATOR,
                 reason=f"settle {key}", ticket=key)


def digests(p: Projector) -> dict[str, str]:
    return {d.name: d.sha256 for d in p.digest()}


def test_catch_up_in_small_batches_equals_a_rebuild_from_zero(app, views, tmp_path):
    session(app, "CHG-1")
    session(app, "CHG-2", strategy="meanrev-2")
    seen: list[Progress] = []
    incremental = projector(app, views, batch_size=7, progress=seen.append)
    read = incremental.catch_up()
    assert read == app.head()
    assert [s.position for s in seen] == sorted(s.position for s in seen)
    assert seen[-1].position == app.head() and all(s.phase == "catch-up" for s in seen)
    assert incremental.catch_up() == 0
    assert all(s.lag == 0 for s in incremental.status())

    session(app, "CHG-3")  # more events after a first catch-up
    incremental.catch_up()
    fresh = projector(app, SQLiteViewStore(tmp_path / "fresh.sqlite"), batch_size=1000)
    fresh.rebuild()
    assert digests(incremental) == digests(fresh)
    assert {d.name: d.position for d in fresh.digest()} == dict.fromkeys(
        ("tickets", "timeline", "incidents", "flags"), app.head())


def test_rebuilding_one_view_leaves_the_others_and_changes_nothing(app, views):
    session(app, "CHG-1")
    p = projector(app, views, batch_size=5)
    p.catch_up()
    before = digests(p)
    phases: list[str] = []
    p.progress = lambda s: phases.append(s.phase)
    assert p.rebuild(["incidents"]) == app.head()
    assert digests(p) == before
    assert phases[-2:] == ["index", "swap"]
    with pytest.raises(UnknownView, match="no view named 'nope'"):
        p.rebuild(["nope"])


def test_readers_see_the_old_view_until_the_swap(app, views, tmp_path):
    session(app, "CHG-1")
    p = projector(app, views, batch_size=4)
    p.catch_up()
    session(app, "CHG-2")
    other = SQLiteViewStore(tmp_path / "views.sqlite")  # a second process reading
    seen_during: list[int] = []

    def look(progress: Progress) -> None:
        if progress.phase == "rebuild":
            seen_during.append(len(reader(app, other).tickets()))

    p.progress = look
    p.rebuild(["tickets"])
    assert seen_during and set(seen_during) == {1}  # never a half-built view
    assert len(reader(app, other).tickets()) == 2
    other.close()


def test_a_newer_rebuild_supersedes_one_in_progress(app, views):
    for n in range(3):
        session(app, f"CHG-{n + 1}")
    first = projector(app, views, batch_size=10)
    second = projector(app, views, batch_size=1000)
    started = []

    def interfere(progress: Progress) -> None:
        if not started:
            started.append(True)
            second.rebuild(["timeline"])

    first.progress = interfere
    with pytest.raises(RebuildSuperseded, match="another rebuild of view timeline"):
        first.rebuild(["timeline"])
    assert second.status()[1].position == app.head()
    fresh = projector(app, views)
    fresh.rebuild(["timeline"])
    assert digests(fresh)["timeline"] == digests(second)["timeline"]


def test_a_view_of_an_older_version_must_be_rebuilt_and_read_commands_do_it(app, views):
    session(app, "CHG-1")
    projector(app, views).catch_up()

    class TicketsV2(TicketsView):
        version = 2

    newer = projector(app, views, views=[TicketsV2(), *all_views()[1:]])
    with pytest.raises(ViewOutdated, match="projections rebuild tickets"):
        newer.catch_up()
    assert newer.status()[0].outdated
    newer.refresh()
    assert not newer.status()[0].outdated
    assert newer.status()[0].position == app.head()


def test_time_travel_replays_the_ticket_as_it_stood(app, views):
    key = open_ticket(app)
    p = projector(app, views)
    r = reader(app, views)
    snapshots: dict[int, dict] = {}

    def record() -> None:
        p.catch_up()
        snapshots[app.head()] = r.ticket(key)

    record()
    attach_all(app, key, skip={"risk-envelope"})
    record()
    approve_all(app, key)
    record()
    app.evaluate_gate(key, actor="alice.rm", role=Role.RELEASE_MANAGER)
    record()
    session(app, "CHG-9")  # other tickets' events in between change nothing
    run_id, _, _ = app.start_command(key, command=Command.DEPLOY, argv=["d"], log_path="d.log",
                                     actor=OPERATOR, role=Role.OPERATOR)
    record()
    for position, doc in snapshots.items():
        replayed = r.ticket_as_of(key, position=position)
        assert replayed.pop("as_of") == {"position": position, "time": None}
        assert replayed == doc
    gate_position = list(snapshots)[3]
    assert r.ticket_as_of(key, position=gate_position)["status"] == "no-go"
    assert r.ticket_as_of(key, position=app.head())["effective_env"] == "staging"

    timeline = r.timeline(key)
    gate = next(e for e in timeline if e["kind"] == "GateEvaluated")
    at = datetime.fromisoformat(gate["at"].replace("Z", "+00:00"))
    assert r.ticket_as_of(key, at=at)["gate"]["decision"] == "no-go"
    assert r.ticket_as_of(key, at=at - timedelta(microseconds=1))["gate"] is None
    with pytest.raises(NotInView, match="no such ticket at"):
        r.ticket_as_of(key, at=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidQuery):
        r.ticket_as_of(key, position=0)
    with pytest.raises(InvalidQuery):
        r.ticket_as_of(key)


def test_incident_filters_by_metric_strategy_severity_and_time(app, views):
    session(app, "CHG-1", breaches=4)
    session(app, "CHG-2", strategy="meanrev-2", breaches=2)
    projector(app, views).catch_up()
    r = reader(app, views)
    everything = r.incidents(IncidentQuery())
    assert len(everything) == 6
    assert [i["window_start"] for i in everything] == sorted(i["window_start"] for i in everything)
    latency = r.incidents(IncidentQuery(metric="metrics.execution.latency"))
    assert {i["metric"] for i in latency} == {"metrics.execution.latency"} and len(latency) == 3
    assert {i["ticket"] for i in r.incidents(IncidentQuery(strategy="meanrev-2"))} == {"CHG-2"}
    assert len(r.incidents(IncidentQuery(severity="page"))) == 3
    window = r.incidents(IncidentQuery(since=START + timedelta(hours=1), until=START + timedelta(hours=3)))
    assert {i["window_start"][:16] for i in window} == {"2026-11-23T10:00", "2026-11-23T11:00"}
    assert len(r.incidents(IncidentQuery(ticket="CHG-1", limit=2))) == 2
    with pytest.raises(InvalidQuery, match="severity 'fatal'"):
        r.incidents(IncidentQuery(severity="fatal"))
    with pytest.raises(InvalidQuery, match="--since must be before --until"):
        r.incidents(IncidentQuery(since=START, until=START))
    with pytest.raises(InvalidQuery):
        r.incidents(IncidentQuery(since=datetime(2026, 1, 1)))  # no time zone


def test_queries_name_what_they_cannot_find(app, views):
    session(app, "CHG-1")
    projector(app, views).catch_up()
    r = reader(app, views)
    assert r.ticket("CHG-1")["status"] == "deployed"
    assert [t["ticket"] for t in r.tickets(status="deployed")] == ["CHG-1"]
    assert r.tickets(strategy="other") == []
    assert [c["new"] for c in r.flag_history("live.enabled")] == ["true", "false"]
    assert r.flag_history("never.set") == []
    with pytest.raises(NotInView, match="CHG-404: no such ticket"):
        r.ticket("CHG-404")
    with pytest.raises(NotInView):
        r.timeline("CHG-404")
    with pytest.raises(InvalidQuery, match="not a ticket key"):
        r.ticket("drop table")
    with pytest.raises(InvalidQuery, match="not a flag name"):
        r.flag_history("Live Enabled")


# --- a log with gaps and a corrupt event, through a stand-in recorder ---------------------


@dataclass(frozen=True)
class Note:
    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


class GappyRecorder:
    """The notifications of a real log, renumbered with gaps (as PostgreSQL can leave)."""

    def __init__(self, notes: list[Note]) -> None:
        self.notes = notes

    def select_notifications(self, start, limit, stop=None, topics=()):
        chosen = [n for n in self.notes if n.id >= start and (stop is None or n.id <= stop)]
        return chosen[:limit]

    def max_notification_id(self):
        return self.notes[-1].id if self.notes else None

    def select_events(self, originator_id, *, lte=None):
        return [n for n in self.notes if n.originator_id == originator_id
                and (lte is None or n.originator_version <= lte)]


class Codec:
    cipher = None
    compressor = None
    transcoder = CanonicalJSONTranscoder()


def gappy(app: OpsLedger) -> GappyRecorder:
    notes = [Note(n.id * 3 + (n.id % 2), n.originator_id, n.originator_version, n.topic, n.state)
             for n in app.notifications()]
    return GappyRecorder(notes)


def test_positions_with_gaps_are_followed_exactly(app, views, tmp_path):
    session(app, "CHG-1")
    recorder = gappy(app)
    log = EventLog(recorder, Codec())
    incremental = Projector(log, views, batch_size=3)
    incremental.catch_up()
    fresh = Projector(log, SQLiteViewStore(tmp_path / "fresh.sqlite"))
    fresh.rebuild()
    assert digests(incremental) == digests(fresh)
    assert {s.position for s in incremental.status()} == {recorder.notes[-1].id}
    r = ViewReader(views, log)
    positions = [e["position"] for e in r.timeline("CHG-1")]
    assert positions == [n.id for n in recorder.notes if n.topic.startswith("opsledger.ticket.")
                         or n.topic == "opsledger.flag.Changed"]
    assert r.ticket_as_of("CHG-1", position=positions[3])["version"] == 4


def test_a_corrupt_event_stops_the_views_before_it(app, views):
    session(app, "CHG-1")
    session(app, "CHG-2")
    recorder = gappy(app)
    bad = recorder.notes[20]
    recorder.notes[20] = replace(bad, state=b"{not json")
    p = Projector(EventLog(recorder, Codec()), views, batch_size=8)
    with pytest.raises(UndecodableEvent, match=f"position {bad.id}"):
        p.catch_up()
    stuck = {s.position for s in p.status()}
    assert stuck == {recorder.notes[15].id}  # the last whole batch before the bad one
    recorder.notes[20] = bad  # repaired: catch-up resumes where it stopped
    p.catch_up()
    assert {s.position for s in p.status()} == {recorder.notes[-1].id}
