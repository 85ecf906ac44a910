"""`opsledger demo` runs a whole session to settled on the embedded stores."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from opsledger.domain.application import OpsLedger
from opsledger.domain.runbook import Env


def test_demo_runs_a_session_to_settled_without_a_server(opsledger_exe, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "demo")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    home = tmp_path / "demo" / ".opsledger"
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(home / "events.sqlite")})
    ticket = app.get_ticket("CHG-2041")
    assert ticket.settled and ticket.effective_env is Env.PROD
    assert ticket.missing_checks() == []
    # one breach of each kind, found in the metrics export by the SLA packet
    assert sorted(b["metric"] for b in ticket.breaches.values()) == [
        "metrics.execution.heartbeat", "metrics.execution.latency",
        "metrics.portfolio.drift", "metrics.risk.heartbeat"]
    assert ticket.flag_mismatches == []
    assert [c.new for c in app.flag_changes("live.enabled")] == ["true", "false"]
    session = tmp_path / "demo" / "reports" / "live" / str(ticket.session_date) / "CHG-2041"
    for name in ("deploy.log", "validation.log", "settle.log", "risk_limits.yaml",
                 "positions.csv", "pnl.csv", "exposure.csv"):
        assert (session / name).is_file(), name
    assert list(session.glob("metrics_*.json.gz")) and list(session.glob("logs_*.tar.gz"))
    assert app.get_shift("dana.ops", ticket.session_date).accepted
    # authority came from the roster: every signature, approval and script replays cleanly
    checked, findings = app.audit_authority()
    assert checked == 8 + 3 + 3 and findings == []  # signatures, approvals, three scripts
    assert "authority: 14 roster-checked events replayed, each allowed" in done.stdout
    app.close()

    again = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "demo")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "CHG-2042" in again.stdout  # a second run never collides with the first
    assert "dana.ops: operator (already held)" in again.stdout  # the roster is kept
