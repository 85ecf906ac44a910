"""A killed run is not a finished run (issue 13, item 7).

`opsledger run` is a real process here, SIGKILLed while its script sleeps:
the script must outlive it (its own process group; the log written before
the terminal), the run must be found abandoned, with the log's digest at
that moment, and neither the archive nor the close may treat it as finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirunner import invoke, key_file, staff
from opsledger.domain.application import OpsLedger

ARTIFACT = "sha256:" + "ab" * 32

# Prints, sleeps until told (or 60 s), prints again: the second line is written
# after its recorder is gone, to a pipe nobody reads any more in the old design.
SCRIPT = (
    "import os, sys, time\n"
    "print('started', flush=True)\n"
    "deadline = time.monotonic() + 60\n"
    "while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:\n"
    "    time.sleep(0.05)\n"
    "for i in range(50):\n"
    "    print('after the recorder', i, flush=True)\n"
    # stdout, as the lines before it: two pipes (stdout, stderr) have no order
    # between them, so a last line on stderr could reach the log before them
    "print('finished', flush=True)\n"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("OPSLEDGER_") and k != "SSH_AUTH_SOCK"}
    return {**base, "OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops",
            "OPSLEDGER_IDENTITY": str(key_file("dana.ops"))}


@pytest.fixture
def ticket(opsledger_exe, env) -> str:
    Path(env["OPSLEDGER_HOME"]).mkdir(parents=True, exist_ok=True)
    staff({"OPSLEDGER_HOME": env["OPSLEDGER_HOME"]})
    subprocess.run([*opsledger_exe, "ticket", "open", "CHG-7", "--strategy", "momo-1",
                    "--artifact", ARTIFACT, "--env", "staging"], env=env, check=True,
                   capture_output=True)
    return "CHG-7"


def app_for(env: dict[str, str]) -> OpsLedger:
    return OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                          "SQLITE_DBNAME": str(Path(env["OPSLEDGER_HOME"]) / "events.sqlite")})


def the_run(env: dict[str, str]) -> dict:
    app = app_for(env)
    try:
        return next(iter(app.get_ticket("CHG-7").commands.values()))
    finally:
        app.close()


def as_person(env: dict[str, str], person: str) -> dict[str, str]:
    return {"OPSLEDGER_HOME": env["OPSLEDGER_HOME"], "OPSLEDGER_ACTOR": person}


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def start_run(opsledger_exe, env, session: Path, release: Path) -> subprocess.Popen:
    proc = subprocess.Popen([*opsledger_exe, "run", "CHG-7", "validate", "--session-dir",
                             str(session), "--", sys.executable, "-c", SCRIPT, str(release)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = session / "validation.log"
    wait_for(lambda: log.exists() and b"started" in log.read_bytes(), "the script to start")
    return proc


def test_a_sigkilled_recorder_leaves_the_script_running_and_the_run_abandoned(
    opsledger_exe, env, ticket, tmp_path
):
    session, release = tmp_path / "s", tmp_path / "release"
    proc = start_run(opsledger_exe, env, session, release)
    proc.kill()  # kill -9 of opsledger run, nothing else
    proc.wait(timeout=10)
    release.touch()
    log = session / "validation.log"
    # the script outlives its recorder and everything it wrote reaches the log
    wait_for(lambda: b"finished" in log.read_bytes(), "the script's last line in the log")
    text = log.read_text()
    assert "after the recorder 49" in text and text.endswith("finished\n")
    assert the_run(env)["finished"] is None  # nothing recorded its end

    # reading the ticket says what happened to the run
    shown = invoke(["ticket", "show", "CHG-7", "--json"], as_person(env, "alice.rm"))
    assert shown.code == 0, shown.err
    (command,) = json.loads(shown.out)["commands"]
    assert command["outcome"] is None and command["recorder"] == "gone"
    human = invoke(["ticket", "show", "CHG-7"], as_person(env, "alice.rm"))
    assert "abandoned (recorder gone)" in human.out

    # the next recording command puts the abandonment on the record, then refuses
    rm = as_person(env, "alice.rm")
    built = invoke(["archive", "build", "CHG-7", "--session-dir", str(session)], rm)
    assert built.code == 1, built.err
    assert "validation.log: unfinished" in built.err and "abandoned" in built.err
    run = the_run(env)
    finished = run["finished"]
    assert finished["outcome"] == "abandoned" and finished["exit_code"] is None
    assert finished["log_sha256"] == hashlib.sha256(log.read_bytes()).hexdigest()
    assert finished["log_bytes"] == log.stat().st_size
    assert f"pid {proc.pid}" in finished["detail"]

    closed = invoke(["ticket", "close", "CHG-7"], rm)
    assert closed.code == 1

    # an archive that says it is incomplete may be sealed, and then the ticket closes
    built = invoke(["archive", "build", "CHG-7", "--session-dir", str(session),
                    "--allow-incomplete", "--json"], rm)
    assert built.code == 0, built.err
    assert any("validation.log: unfinished" in line and "abandoned" in line
               for line in json.loads(built.out)["incomplete"])
    assert invoke(["ticket", "close", "CHG-7"], rm).code == 0


def test_a_run_still_running_refuses_the_archive_and_the_close(
    opsledger_exe, env, ticket, tmp_path
):
    session, release = tmp_path / "s", tmp_path / "release"
    proc = start_run(opsledger_exe, env, session, release)
    try:
        rm = as_person(env, "alice.rm")
        built = invoke(["archive", "build", "CHG-7", "--session-dir", str(session)], rm)
        assert built.code == 1
        assert "validation.log: unfinished" in built.err and "still running" in built.err
        assert the_run(env)["finished"] is None  # a live recorder's run is left alone
        built = invoke(["archive", "build", "CHG-7", "--session-dir", str(session),
                        "--allow-incomplete"], rm)
        assert built.code == 0, built.err
        closed = invoke(["ticket", "close", "CHG-7"], rm)
        assert closed.code == 1
        assert "still running" in closed.err
    finally:
        release.touch()
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert invoke(["ticket", "close", "CHG-7"], rm).code == 0  # its end recorded
