"""An engineer's retrospective months later: the session folder was pruned at
close (or is on another machine), yet each breach's chart still draws, from
the metrics snapshot sealed in the ticket's archive, the same points as it
drew from the folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_session import DemoSession, run_demo
from opsledger.services import breach_chart
from opsledger.services.bootstrap import Services
from opsledger.services.breach_chart import breach_charts
from opsledger.services.incidents import list_incidents
from opsledger.services.settings import Settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSession:
    return run_demo(tmp_path_factory.mktemp("charts") / "demo")


@pytest.fixture
def services(demo: DemoSession) -> Iterator[Services]:
    opened = Services(Settings.from_env(environ=demo.env()))
    try:
        yield opened
    finally:
        opened.close()


def charts_from(folder: Path, services: Services) -> dict[str, dict]:
    """The charts as `opsledger serve` started in `folder` draws them."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        return breach_charts(services, list_incidents(services, ticket="CHG-2041"))
    finally:
        os.chdir(before)


def test_a_pruned_session_is_charted_from_its_archive(demo, services, tmp_path):
    from_folder = charts_from(demo.folder, services)  # reports/live/<date>/CHG-2041 is here
    elsewhere = charts_from(tmp_path, services)  # no session folder: pruned, another machine
    assert from_folder and elsewhere.keys() == from_folder.keys()
    for breach_id, chart in elsewhere.items():
        drawn = from_folder[breach_id]
        assert drawn["points"], drawn["note"]
        assert chart["points"] == drawn["points"] and chart["note"] is None
        assert f"in {demo.archive.name}" in chart["source"]
        assert demo.archive.name not in drawn["source"]


def test_without_the_archive_the_chart_says_what_it_lacks(demo, services, tmp_path,
                                                          monkeypatch):
    monkeypatch.setattr(breach_chart, "_ARCHIVED", breach_chart._Recent(1 << 20))  # none read yet
    moved = tmp_path / demo.archive.name
    demo.archive.rename(moved)
    try:
        charts = charts_from(tmp_path, services)
    finally:
        moved.rename(demo.archive)
    assert charts and all(c["points"] == [] for c in charts.values())
    assert all("no metrics snapshot" in c["note"] for c in charts.values())


def test_a_snapshot_over_the_cap_is_said_not_silently_missing(demo, services, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(breach_chart, "_ARCHIVED", breach_chart._Recent(1 << 20))
    monkeypatch.setattr(breach_chart, "MAX_SNAPSHOT", 16)  # every snapshot is over it
    charts = charts_from(tmp_path, services)
    assert charts and all(c["points"] == [] for c in charts.values())
    assert all(f"the metrics snapshot in {demo.archive.name} could not be read" in c["note"]
               and "over the 16 read" in c["note"] for c in charts.values())
