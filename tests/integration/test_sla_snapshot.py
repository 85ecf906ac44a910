"""`opsledger sla snapshot` against a real Prometheus 2.42 (tests/promserver/): the
session's metrics land in its folder as metrics_<time>.json.gz, the file's digest is
on the record, and the breach in it is recorded once, with its true window."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirunner import invoke, key_file, staff
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.domain.runbook import Role
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings
from promserver import OTHER, STRATEGY
from realserver import free_port
from story import PEOPLE, run_session

ARTIFACT = "sha256:" + "ab" * 32
OPERATOR = PEOPLE[Role.OPERATOR]
MOMO = f'strategy="{STRATEGY}"'


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # the session folder is reports/live/<date>/<ticket>/ under it
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": OPERATOR}
    staff(env)
    for key in ("CHG-5", "CHG-6"):
        opened = invoke(["ticket", "open", key, "--strategy", STRATEGY, "--artifact", ARTIFACT],
                        env)
        assert opened.code == 0, opened.err
    return env


@pytest.fixture
def services(env: dict[str, str]) -> Iterator[Services]:
    services = Services(Settings.from_env(environ=env))
    services.act_as(FileKeySigner(key_file(OPERATOR)))
    yield services
    services.close()


@pytest.fixture
def session_held(prometheus, services):
    """CHG-5's session is the one Prometheus holds: deployed at its start, settled at its end."""
    _, session = prometheus
    run_session(services.app, "CHG-5", start=session.start, end=session.end)
    return session


def snapshot(env: dict[str, str], url: str, *args: str, key: str = "CHG-5") -> dict:
    result = invoke(["sla", "snapshot", key, "--prometheus", url, *args, "--json"], env)
    assert result.code == 0, result.err
    return json.loads(result.out)


def snapshots(services: Services, key: str) -> dict[str, str]:
    return dict(services.app.get_ticket(key).snapshots)


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def same_moment(text: str, moment) -> bool:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")) == moment


def test_the_session_snapshot_lands_in_its_folder_with_its_digest_and_its_breach(
        env, services, prometheus, session_held, tmp_path):
    server, session = prometheus
    doc = snapshot(env, server.url, "--match", MOMO)

    shot = doc["snapshot"]
    path = Path(shot["path"])
    folder = Path("reports/live") / str(services.app.get_ticket("CHG-5").session_date) / "CHG-5"
    assert path.parent == folder and path.name.startswith("metrics_")
    assert path.name.endswith(".json.gz") and (tmp_path / path).is_file()
    data = (tmp_path / path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == shot["sha256"] and len(data) == shot["size"]
    assert snapshots(services, "CHG-5") == {shot["sha256"]: path.name}
    assert shot["written"] and shot["recorded"]
    # every rule of the runbook's packet was asked for, for momo-1 only
    stored = json.loads(gzip.decompress(data))
    asked = {q["query"] for q in stored["opsledger_snapshot"]["queries"]}
    assert "metrics_execution_latency{" + MOMO + "}" in asked and len(asked) == 6
    assert {s["metric"]["strategy"] for s in stored["data"]["result"]} == {STRATEGY}
    # the default window is the session's: deploy start to settle end
    assert [same_moment(t, m) for t, m in zip(shot["window"], (session.start, session.end),
                                                strict=True)] == [True, True]

    (breach,) = doc["breaches"]
    assert (breach["rule"], breach["record"], doc["new"]) == ("order_latency", "new", 1)
    assert same_moment(breach["window_start"], session.breach_start)
    assert same_moment(breach["window_end"], session.breach_end)
    assert breach["labels"] == {"strategy": STRATEGY} and breach["observed"] > 120
    assert doc["rules_without_data"] == [] and not doc["nothing_matched"]

    # the timeline shows the snapshot, signed by the operator
    timeline = json.loads(invoke(["timeline", "CHG-5", "--json"], env).out)
    taken = [e for e in timeline["events"] if e["kind"] == "MetricsSnapshotTaken"]
    assert len(taken) == 1 and path.name in taken[0]["summary"]

    # `sla evaluate` reads the written file and finds the same breach, already recorded
    again = invoke(["sla", "evaluate", "CHG-5", str(path), "--since", iso(session.start),
                    "--until", iso(session.end), "--json"], env)
    assert again.code == 0, again.err
    assert json.loads(again.out)["already_recorded"] == 1 and json.loads(again.out)["new"] == 0


def test_a_second_snapshot_records_nothing_twice(env, services, prometheus, session_held):
    server, _ = prometheus
    first = snapshot(env, server.url, "--match", MOMO)
    second = snapshot(env, server.url, "--match", MOMO)
    assert (second["new"], second["already_recorded"]) == (0, 1)
    assert second["snapshot"]["sha256"] == first["snapshot"]["sha256"]
    assert not second["snapshot"]["recorded"] and not second["snapshot"]["written"]
    assert len(snapshots(services, "CHG-5")) == 1
    assert len(services.app.get_ticket("CHG-5").breaches) == 1


def test_an_explicit_window_without_match_reads_every_strategy(env, services, prometheus):
    server, session = prometheus
    since, until = session.other_breach_start, session.end  # momo-1's breach is before it
    doc = snapshot(env, server.url, "--since", iso(since), "--until", iso(until), "--step", "30s",
                   key="CHG-6")
    assert [(b["rule"], b["labels"]["strategy"]) for b in doc["breaches"]] == [
        ("order_latency", OTHER)]
    assert doc["snapshot"]["step_seconds"] == 30


def test_prometheus_down_is_one_line_and_nothing_is_recorded(env, services, session_held,
                                                             tmp_path):
    events = len(services.app.ticket_events("CHG-5"))
    result = invoke(["sla", "snapshot", "CHG-5", "--prometheus",
                     f"http://127.0.0.1:{free_port()}", "--timeout", "5"], env)
    assert result.code != 0 and len(result.error_lines) == 1, result.err
    assert "unreachable" in result.err and "Traceback" not in result.err
    assert not list(tmp_path.glob("reports/**/metrics_*"))
    assert len(services.app.ticket_events("CHG-5")) == events


def test_prometheus_refusing_the_query_is_one_line(env, services, prometheus, session_held,
                                                   tmp_path):
    server, _ = prometheus
    # Python's re takes a lookahead, Prometheus' RE2 does not: its own "status": "error"
    result = invoke(["sla", "snapshot", "CHG-5", "--prometheus", server.url,
                     "--match", 'strategy=~"(?=m).*"'], env)
    assert result.code == 1 and len(result.error_lines) == 1, result.err
    assert "HTTP 400" in result.err and "bad_data" in result.err
    assert not list(tmp_path.glob("reports/**/metrics_*"))
    assert snapshots(services, "CHG-5") == {}


def test_no_session_window_is_refused_clearly(env, prometheus):
    server, _ = prometheus
    result = invoke(["sla", "snapshot", "CHG-6", "--prometheus", server.url], env)
    assert result.code == 2 and len(result.error_lines) == 1
    assert "no deploy is recorded" in result.err and "--since" in result.err
    bad = invoke(["sla", "snapshot", "CHG-6", "--prometheus", server.url, "--step", "fast"], env)
    assert bad.code == 2 and len(bad.error_lines) == 1


def test_another_snapshot_in_the_same_second_is_a_file_of_its_own(env, services, prometheus,
                                                                   session_held, tmp_path):
    server, _ = prometheus
    everything = snapshot(env, server.url)
    momo = snapshot(env, server.url, "--match", MOMO)
    assert everything["snapshot"]["file"] != momo["snapshot"]["file"]
    assert len(list(tmp_path.glob("reports/live/*/CHG-5/metrics_*.json.gz"))) == 2
    assert len(snapshots(services, "CHG-5")) == 2
    assert (momo["new"], momo["already_recorded"]) == (0, 1)  # momo-1's breach, seen before


def test_the_archive_holds_the_snapshot_to_its_recorded_digest(prometheus, tmp_path,
                                                               opsledger_exe):
    """The demo's settled session, a snapshot taken into its folder, then sealed: the
    archive carries the file, and verify finds it as the signed event recorded it."""
    import os
    import subprocess

    server, session = prometheus
    plain = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "d"), "--no-archive"],
                          cwd=tmp_path, env=plain, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "d" / ".opsledger"
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_ACTOR": "alice.rm",
           "OPSLEDGER_IDENTITY": str(tmp_path / "d" / "keys" / "alice.rm")}
    folder = next((tmp_path / "d" / "reports" / "live").glob("*/CHG-2041"))
    doc = snapshot(env, server.url, "--since", iso(session.start), "--until", iso(session.end),
                   "--match", MOMO, "--session-dir", str(folder), key="CHG-2041")
    assert doc["new"] == 1 and Path(doc["snapshot"]["path"]).parent == folder
    assert invoke(["keys", "init"], env).code == 0
    built = invoke(["archive", "build", "CHG-2041", "--session-dir", str(folder), "--json"], env)
    assert built.code == 0, built.err
    sealed = json.loads(built.out)
    assert sealed["verified"] is True and sealed["findings"] == []
    archive = sealed["location"].removeprefix("file://")
    listing = subprocess.run(["tar", "--zstd", "-tf", archive], capture_output=True, text=True,
                             check=True).stdout
    assert f"data/{doc['snapshot']['file']}" in listing
    # the binding stage holds the archived file to the snapshot's signed event: a
    # forged copy (its manifests regenerated) is named with that event
    from opsledger.archiver.verify.bagcheck import VerifiedFile
    from opsledger.archiver.verify.binding import binding_findings

    bag = subprocess.run(["tar", "--zstd", "-xOf", archive, "--wildcards",
                          "*/opsledger/events.jsonl"], capture_output=True, check=True).stdout
    name = doc["snapshot"]["file"]
    forged = {f"data/{name}": VerifiedFile(f"data/{name}", 1, "0" * 64, "0" * 128)}
    findings = binding_findings({"opsledger/events.jsonl": bag}, forged)
    assert any(f"data/{name} has sha256 {'0' * 64}, the event at" in f for f in findings), findings
