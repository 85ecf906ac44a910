"""`opsledger run` as a real process: live tee, exit codes, interruption."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirunner import key_file, staff
from opsledger.domain.application import OpsLedger

ARTIFACT = "sha256:" + "ab" * 32


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("OPSLEDGER_") and k != "SSH_AUTH_SOCK"}
    # dana.ops, the on-call operator, runs the scripts: her key signs what opsledger records
    return {**base, "OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "dana.ops",
            "OPSLEDGER_IDENTITY": str(key_file("dana.ops"))}


@pytest.fixture
def ticket(opsledger_exe, env) -> str:
    Path(env["OPSLEDGER_HOME"]).mkdir(parents=True, exist_ok=True)
    staff({"OPSLEDGER_HOME": env["OPSLEDGER_HOME"]})  # each person's key and role
    subprocess.run([*opsledger_exe, "ticket", "open", "CHG-7", "--strategy", "momo-1",
                    "--artifact", ARTIFACT, "--env", "staging"], env=env, check=True,
                   capture_output=True)
    return "CHG-7"


def app_for(env: dict[str, str]) -> OpsLedger:
    return OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                          "SQLITE_DBNAME": str(Path(env["OPSLEDGER_HOME"]) / "events.sqlite")})


def test_output_is_teed_and_the_exit_code_passed_through(opsledger_exe, env, ticket, tmp_path):
    script = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(7)"
    done = subprocess.run([*opsledger_exe, "run", ticket, "deploy", "--session-dir",
                           str(tmp_path / "s"), "--", sys.executable, "-c", script],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 7
    assert "to stdout" in done.stdout and "to stderr" in done.stderr
    log = (tmp_path / "s" / "deploy.log").read_bytes()
    assert sorted(log.decode().splitlines()) == ["to stderr", "to stdout"]
    app = app_for(env)
    run = next(iter(app.get_ticket(ticket).commands.values()))
    assert run["finished"]["exit_code"] == 7 and run["finished"]["outcome"] == "exited"
    assert run["finished"]["log_sha256"] == hashlib.sha256(log).hexdigest()
    assert run["finished"]["log_bytes"] == len(log)
    assert run["argv"] == [sys.executable, "-c", script]


def test_a_rerun_never_overwrites_an_earlier_log(opsledger_exe, env, ticket, tmp_path):
    for text in ("first", "second"):
        subprocess.run([*opsledger_exe, "run", ticket, "validate", "--session-dir",
                        str(tmp_path), "--", "echo", text], env=env, check=True,
                       capture_output=True, timeout=60)
    assert (tmp_path / "validation.log").read_text() == "first\n"
    assert (tmp_path / "validation-2.log").read_text() == "second\n"


def test_a_command_that_cannot_start_is_recorded(opsledger_exe, env, ticket, tmp_path):
    done = subprocess.run([*opsledger_exe, "run", ticket, "settle", "--session-dir",
                           str(tmp_path), "--", str(tmp_path / "no-such-script")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 127
    assert "Traceback" not in done.stderr
    run = next(iter(app_for(env).get_ticket(ticket).commands.values()))
    assert run["finished"]["outcome"] == "failed-to-start"
    assert "cannot start" in (tmp_path / "settle.log").read_text()


def test_an_interrupted_command_is_recorded_as_such(opsledger_exe, env, ticket, tmp_path):
    script = ("import signal, sys, time\n"
              "print('started', flush=True)\n"
              "signal.signal(signal.SIGINT, lambda *a: (print('safe stop', flush=True), "
              "sys.exit(3)))\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([*opsledger_exe, "run", ticket, "deploy", "--session-dir",
                             str(tmp_path), "--", sys.executable, "-c", script],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while "started" not in (tmp_path / "deploy.log").read_text() if (tmp_path / "deploy.log") \
            .exists() else True:
        assert time.monotonic() < deadline, "script never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # only to opsledger; it passes the interrupt on
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run = next(iter(app_for(env).get_ticket(ticket).commands.values()))
    assert run["finished"]["outcome"] == "interrupted"
    assert run["finished"]["exit_code"] == 3
    assert (tmp_path / "deploy.log").read_text() == "started\nsafe stop\n"


def test_a_large_log_is_streamed_not_held(opsledger_exe, env, ticket, tmp_path):
    size = 200 * 1024 * 1024
    script = ("import sys\nchunk = b'x' * 1048575 + b'\\n'\n"
              f"for _ in range({size // (1 << 20)}): sys.stdout.buffer.write(chunk)\n")
    done = subprocess.run(
        [sys.executable, "-c",
         "import resource, subprocess, sys\n"
         "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
         "sys.exit(p.returncode)",
         *opsledger_exe, "run", ticket, "validate", "--session-dir", str(tmp_path), "--",
         sys.executable, "-c", script],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stdout.strip().splitlines()[-1])
    assert (tmp_path / "validation.log").stat().st_size == size
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB: the log was buffered"
