"""A full disk, as a desk meets it: the store's disk, the session folder's, the
archive folder's. Each is a real filesystem that runs out of space (a small
tmpfs mounted for the test), never a mock:

- a recording command on a full disk says so in one line (exit 3) and loses
  nothing recorded before; `ledger verify` says it could not check, not that
  the store is damaged; once space is freed, the same command records;
- a script whose log fills the disk runs to its end (a `kill` must), its
  output still reaches the terminal, and its end is recorded with the log as
  far as it got, said to be incomplete;
- an archive that does not fit leaves nothing in the store, the ticket stays
  open, and the same seal succeeds once there is room;
- the HTTP service answers 503 (a problem body, Retry-After), never a 500,
  and the same request succeeds once space is freed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clirunner import invoke
from demo_session import opsledger_command
from httpdesk import bearer, client

KEY = "CHG-2041"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A settled session, not yet archived."""
    folder = tmp_path_factory.mktemp("full-disk") / "demo"
    result = invoke(["demo", "--dir", str(folder), "--no-archive"], {})
    assert result.code == 0, result.err
    return folder


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """`mount(name, size)`: a tmpfs of `size` (e.g. "64k") at tmp_path/name."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                               str(where)], capture_output=True, text=True)
        if done.returncode != 0:
            why = f"cannot mount a small filesystem here: {done.stderr.strip()}"
            if os.environ.get("CI") == "true":
                pytest.fail(why)
            pytest.skip(why)
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Writes zeros into `folder` until its disk refuses any more."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while f.write(b"\0" * 4096):
                pass
        except OSError:
            pass
    assert shutil.disk_usage(folder).free < 8192
    return filler


def desk_copy(demo: Path, home: Path) -> dict[str, str]:
    """The demo's store copied to `home`, the operator (dana.ops) acting."""
    shutil.copytree(demo / ".opsledger", home)
    return {"OPSLEDGER_HOME": str(home), "OPSLEDGER_IDENTITY": str(demo / "keys/dana.ops")}


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("opsledger: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def log_state(env: dict) -> tuple[int, str]:
    result = invoke(["ledger", "verify", "--database-only", "--json"], env)
    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    return document["log_events"], document["log_root"]


def test_recording_on_a_full_disk_is_refused_in_one_line_and_loses_nothing(demo, small_disk):
    disk = small_disk("store", "4m")
    env = desk_copy(demo, disk / "home")
    before = log_state(env)
    filler = fill(disk)

    change = ["flag", "set", "ops.banner", "on", "--reason", "after the session"]
    refused = invoke(change, env)
    assert refused.code == 3, refused.out + refused.err
    line = one_error_line(refused.err)
    assert f"no space left on the disk holding {disk / 'home'}" in line
    assert "nothing recorded before is lost" in line
    # Not a damaged store: a check that could not run, and it says why.
    unchecked = invoke(["ledger", "verify", "--database-only"], env)
    assert unchecked.code == 3 and "DAMAGED" not in unchecked.out, unchecked.out + unchecked.err
    assert "no space left" in one_error_line(unchecked.err)

    filler.unlink()
    assert log_state(env) == before  # every event recorded before, as it was
    recorded = invoke(change, env)
    assert recorded.code == 0, recorded.err
    changes = json.loads(invoke(["flag", "history", "ops.banner", "--json"], env).out)["changes"]
    assert [c["reason"] for c in changes].count("after the session") == 1
    assert log_state(env)[0] > before[0]


def test_the_http_service_on_a_full_disk_answers_503_and_loses_nothing(demo, small_disk):
    disk = small_disk("served", "4m")
    env = desk_copy(demo, disk / "home")
    admin = {**env, "OPSLEDGER_IDENTITY": str(demo / "keys/desk.admin")}
    issued = invoke(["roster", "token", "issue", "bob.risk", "--scope", "read"], admin)
    assert issued.code == 0, issued.err
    before = log_state(env)
    filler = fill(disk)
    # The token's event is new to the views: reading catches them up, a write that fails.
    with client(env) as http:
        answer = http.get("/api/v1/tickets", headers=bearer(issued.out.strip()))
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "no space left" in answer.json()["detail"]
        filler.unlink()
        again = http.get("/api/v1/tickets", headers=bearer(issued.out.strip()))
        assert again.status_code == 200 and again.json()[0]["ticket"] == KEY
    assert log_state(env) == before


def test_a_script_whose_log_fills_the_disk_runs_to_its_end_and_is_recorded(demo, small_disk,
                                                                         tmp_path):
    session = small_disk("session", "24k")
    env = desk_copy(demo, tmp_path / "home")
    script = "for i in $(seq 1 3000); do echo halting book $i; done; echo all books flat"
    # A process of its own: the script's output reaches the real terminal (here, a pipe).
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    result = subprocess.run([*opsledger_command(), "run", KEY, "kill", "--session-dir",
                             str(session), "--reason", "risk limit", "--", "sh", "-c", script],
                            env={**inherited, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    # The terminal saw every line: the script was neither stopped nor blocked.
    assert result.stdout.count("halting book") == 3000 and "all books flat" in result.stdout
    line = one_error_line(result.stderr)
    assert "kill exit 0 is recorded, but the log is incomplete (No space left on device)" in line

    log = session / "kill.log"
    on_disk = log.read_bytes()
    assert 0 < len(on_disk) < 3000 * len(b"halting book 3000\n")
    (run,) = [c for c in json.loads(invoke(["ticket", "show", KEY, "--json"], env).out)["commands"]
              if c["command"] == "kill"]
    assert (run["outcome"], run["exit_code"]) == ("exited", 0)
    assert run["log_sha256"] == hashlib.sha256(on_disk).hexdigest()
    assert run["log_bytes"] == len(on_disk)
    assert "the log is incomplete" in run["detail"]
    shown = invoke(["ticket", "show", KEY], env)
    assert "exited (log incomplete)" in shown.out


def test_an_archive_that_does_not_fit_leaves_nothing_and_fits_once_there_is_room(demo, small_disk,
                                                                               tmp_path):
    store = small_disk("archives", "40k")
    env = desk_copy(demo, tmp_path / "home")
    os.chdir(demo)  # the session folder, where the desk keeps it (reports/live/...)
    try:
        full = invoke(["archive", "build", KEY, "--store", str(store)], env)
        assert full.code == 3, full.out + full.err
        assert "no space left" in one_error_line(full.err).lower()
        assert [p.name for p in store.rglob("*") if p.is_file()] == []  # no partial archive
        closing = {**env, "OPSLEDGER_IDENTITY": str(demo / "keys/alice.rm")}
        refused = invoke(["ticket", "close", KEY, "--store", str(store)], closing)
        assert refused.code == 1, refused.out + refused.err

        subprocess.run(["mount", "-o", "remount,size=16m", str(store)], check=True)
        sealed = invoke(["archive", "build", KEY, "--store", str(store)], env)
        assert sealed.code == 0, sealed.out + sealed.err
        (archive,) = store.glob("*.tar.zst")
        verified = invoke(["archive", "verify", str(archive), "--integrity-only"], {})
        assert verified.code == 0, verified.out
    finally:
        os.chdir(tmp_path)
