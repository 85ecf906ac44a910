"""`opsledger serve` as a real process on a free port: it says where it listens,
answers the probes and a read with a token, and stops at SIGTERM, exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import httpx
from httpdesk import found_desk, issue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_and_stops_at_sigterm(tmp_path, opsledger_exe):
    env = {"OPSLEDGER_HOME": str(tmp_path / "home")}
    found_desk(env)
    token = issue(env, "bob.risk", "read")
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    process = subprocess.Popen([*opsledger_exe, "serve", "--port", str(port)],
                               env={**clean, **env}, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()
        assert first.startswith(f"opsledger: serving http://127.0.0.1:{port}/"), first
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/api/v1/tickets").status_code == 401
        rows = httpx.get(f"{base}/api/v1/tickets",
                         headers={"Authorization": f"Bearer {token}"}).json()
        assert [r["ticket"] for r in rows] == ["CHG-2041"]
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert time.monotonic() - began < 10
        rest = process.stderr.read()
        assert "GET /api/v1/tickets 200" in rest and "bob.risk" in rest
        assert token.split("_", 2)[2] not in rest
        assert rest.rstrip().endswith("opsledger: stopped")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_one_line_and_exit_3(tmp_path, opsledger_exe):
    env = {"OPSLEDGER_HOME": str(tmp_path / "home")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*opsledger_exe, "serve", "--port", str(port)], env={**clean, **env},
                              capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("opsledger: error: ") and "Traceback" not in done.stderr
