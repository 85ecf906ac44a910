"""Issue 15, item 6: one session folder per ticket.

Two change tickets with the same session date used to share
`reports/live/<date>/`, so CHG-2042's archive carried CHG-2041's deploy.log.
The default folder is now `reports/live/<date>/<ticket>/`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import invoke, staff
from opsledger.archiver.detached import DetachedManifest

ARTIFACT = "sha256:" + "ab" * 32
DAY = "2026-11-23"
TICKETS = ("CHG-2041", "CHG-2042")


@pytest.fixture
def desk(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """A staffed desk on SQLite, working in tmp_path as a desk works in its repo."""
    monkeypatch.chdir(tmp_path)
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "alice.rm"}
    staff(env)
    return env


def ol(env, *argv: str):
    result = invoke(list(argv), env)
    assert result.code == 0, result.err
    return result


def payload(location: str) -> list[str]:
    """The session files an archive holds (its payload, as its manifest lists them)."""
    manifest = Path(location.removeprefix("file://") + ".manifest")
    files = DetachedManifest.from_bytes(manifest.read_bytes()).files
    return sorted(f.path.removeprefix("data/") for f in files if f.path.startswith("data/"))


def test_two_tickets_on_one_day_each_archive_only_their_own_files(desk, tmp_path):
    for key in TICKETS:
        ol(desk, "ticket", "open", key, "--strategy", "momo-1", "--artifact", ARTIFACT,
           "--env", "staging", "--session-date", DAY, "--actor", "dave.dev")
        ol(desk, "run", key, "deploy", "--actor", "dana.ops", "--",
           "sh", "-c", 'echo "deploying $OPSLEDGER_TICKET into $OPSLEDGER_SESSION_DIR"')
    ol(desk, "run", "CHG-2041", "settle", "--actor", "dana.ops", "--", "sh", "-c", "echo settled")

    # each ticket has a folder of its own under the day; nothing lands in the day itself
    day = tmp_path / "reports" / "live" / DAY
    assert sorted(p.name for p in day.iterdir()) == list(TICKETS)
    for key in TICKETS:
        assert (day / key / "deploy.log").read_text() == \
            f"deploying {key} into {Path('reports', 'live', DAY, key)}\n"
    assert sorted(p.name for p in (day / "CHG-2041").iterdir()) == ["deploy.log", "settle.log"]

    holds = {}
    for key in TICKETS:
        built = json.loads(ol(desk, "archive", "build", key, "--allow-incomplete", "--json",
                              "--actor", "alice.rm").out)
        assert built["verified"] is True, built["findings"]
        assert built["name"] == f"{key}-{DAY}.tar.zst"
        holds[key] = payload(built["location"])
    assert holds == {"CHG-2041": ["deploy.log", "settle.log"], "CHG-2042": ["deploy.log"]}

    # and pruning one ticket's folder leaves the other's alone
    ol(desk, "ticket", "close", "CHG-2042", "--prune", "--actor", "alice.rm")
    assert not (day / "CHG-2042").exists() and (day / "CHG-2041" / "deploy.log").is_file()


def test_an_explicit_session_dir_still_serves_the_old_layout(desk, tmp_path):
    """A desk whose scripts still write into reports/live/<date>/ passes --session-dir."""
    old = tmp_path / "reports" / "live" / DAY
    ol(desk, "ticket", "open", "CHG-2041", "--strategy", "momo-1", "--artifact", ARTIFACT,
       "--env", "staging", "--session-date", DAY, "--actor", "dave.dev")
    ol(desk, "run", "CHG-2041", "deploy", "--session-dir", str(old), "--actor", "dana.ops",
       "--", "sh", "-c", "echo deployed")
    assert (old / "deploy.log").read_text() == "deployed\n"
    built = json.loads(ol(desk, "archive", "build", "CHG-2041", "--session-dir", str(old),
                          "--allow-incomplete", "--json").out)
    assert built["verified"] is True and payload(built["location"]) == ["deploy.log"]
    # the default is the new folder: pruning without --session-dir finds nothing to prune
    refused = invoke(["ticket", "close", "CHG-2041", "--prune"], desk)
    assert refused.code == 2 and "no such session folder" in refused.err
    ol(desk, "ticket", "close", "CHG-2041", "--prune", "--session-dir", str(old))
    assert not old.exists()
