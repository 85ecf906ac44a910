"""A stand-in for the desk's `tradepulse-cli`, used by `opsledger demo`.

It behaves like the real launch/halt scripts as far as opsledger can see:
it writes realistic, timestamped log lines, flips `live.enabled` through the
control plane (here: `opsledger flag set`), and on settle/kill exports the
session artefacts the runbook's archival checklist asks for. Output is
reproducible for a given strategy and session date.

Run as `python -m opsledger.services.demo_tradepulse deploy|validate|settle|kill ...`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import os
import random
import subprocess
import sys
import tarfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


def _log(message: str, *, err: bool = False) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    print(f"{stamp} tradepulse {message}", file=sys.stderr if err else sys.stdout, flush=True)


def _set_live(value: bool, reason: str) -> None:
    """The control plane's flag change, recorded through opsledger."""
    ticket = os.environ.get("OPSLEDGER_TICKET")
    if not ticket:
        _log(f"control-plane live.enabled={str(value).lower()} (not recorded: no ticket)")
        return
    argv = [
        sys.executable,
        "-m",
        "opsledger.cli",
        "flag",
        "set",
        "live.enabled",
        str(value).lower(),
        "--reason",
        reason,
        "--ticket",
        ticket,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        _log(f"control-plane flag update FAILED: {done.stderr.strip()}", err=True)
        raise SystemExit(4)
    _log(f"control-plane live.enabled={str(value).lower()} ({done.stdout.strip()})")


def deploy(args: argparse.Namespace) -> int:
    env = args.env
    _log(f"deploy strategy={args.strategy} env={env} artifact={args.artifact}")
    for step in ("pull artifact", "verify signature", "warm feature store", "connect gateways"):
        _log(f"[{env}] {step} ... ok")
        time.sleep(args.pace)
    _log(f"[{env}] dry-run smoke: 48 synthetic orders, 0 rejects, p95 41.7 ms")
    if env == "prod":
        _set_live(True, f"deploy {args.strategy} {args.artifact[:19]}")
    _log(f"[{env}] strategy {args.strategy} promoted")
    return 0


def validate(args: argparse.Namespace) -> int:
    _log(f"validate strategy={args.strategy} env={args.env} window={args.window} mode={args.mode}")
    rng = random.Random(f"{args.strategy}-validate")
    for minute in range(3):
        _log(
            f"window {minute + 1}/3: orders={rng.randint(900, 1100)} "
            f"p95={rng.uniform(60, 95):.1f}ms drift={rng.uniform(0.05, 0.3):.2f}%"
        )
        time.sleep(args.pace)
    _log("validation passed")
    return 0


def settle(args: argparse.Namespace) -> int:
    _log(f"settle strategy={args.strategy}: cancelling open orders")
    _log("open orders cancelled: 17; positions flat within tolerance")
    _set_live(False, f"settle {args.strategy}")
    export_session(Path(os.environ.get("OPSLEDGER_SESSION_DIR", ".")), args.strategy, killed=False)
    _log("session settled")
    return 0


def kill(args: argparse.Namespace) -> int:
    _log(f"KILL-SWITCH strategy={args.strategy} reason={args.reason!r}", err=True)
    _set_live(False, f"kill {args.strategy}: {args.reason}")
    export_session(Path(os.environ.get("OPSLEDGER_SESSION_DIR", ".")), args.strategy, killed=True)
    _log("all order flow halted")
    return 0


# --- session artefacts (runbook section 6) ------------------------------------


def session_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 13, 30, tzinfo=UTC)


def prometheus_export(strategy: str, start: datetime, seconds: int) -> dict:
    """A Prometheus `query_range` response for the SLA packet's metrics.

    It carries one breach of each kind: a latency spike, a drift excursion,
    an execution heartbeat gap and a risk heartbeat gap.
    """
    rng = random.Random(f"{strategy}-{start.date()}")
    t0 = int(start.timestamp())
    step = 15

    def series(metric: dict[str, str], value_at) -> dict:
        values = []
        for t in range(t0, t0 + seconds, step):
            v = value_at(t - t0)
            if v is not None:
                values.append([t, repr(float(v)) if math.isfinite(v) else "NaN"])
        return {"metric": metric, "values": values}

    def latency(offset: int) -> float:
        base = 70 + 15 * math.sin(offset / 600) + rng.uniform(-8, 8)
        return base + (70 if 1800 <= offset < 1920 else 0)

    def drift(offset: int) -> float:
        return 0.15 + 0.05 * math.sin(offset / 900) + (0.5 if 2700 <= offset < 2790 else 0)

    def beats(gap: range | None):
        count = 0

        def value_at(offset: int) -> float | None:
            nonlocal count
            if gap is not None and offset in gap:
                return None
            count += step
            return float(count)

        return value_at

    # Prometheus spells the runbook's metrics.execution.latency with underscores.
    result = [
        series({"__name__": "metrics_execution_latency", "strategy": strategy}, latency),
        series({"__name__": "metrics_portfolio_drift", "strategy": strategy}, drift),
    ]
    gaps = {"execution": range(2400, 2550)}
    for component in ("ingestion", "feature_store", "execution"):
        metric = {"__name__": f"metrics_{component}_heartbeat", "strategy": strategy}
        result.append(series(metric, beats(gaps.get(component))))
    metric = {"__name__": "metrics_risk_heartbeat", "strategy": strategy}
    result.append(series(metric, beats(range(3300, 3375))))
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


SESSION_SECONDS = 4 * 3600


def export_session(session_dir: Path, strategy: str, *, killed: bool) -> None:
    session_dir.mkdir(parents=True, exist_ok=True)
    # reports/live/<date>/<ticket>/, or the older reports/live/<date>/
    named = next((p.name for p in (session_dir, session_dir.parent) if _is_date(p.name)), None)
    day = date.fromisoformat(named) if named else datetime.now(UTC).date()
    start = session_start(day)
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    rng = random.Random(f"{strategy}-{day}")

    metrics = json.dumps(prometheus_export(strategy, start, SESSION_SECONDS)).encode()
    (session_dir / f"metrics_{stamp}.json.gz").write_bytes(gzip.compress(metrics, mtime=0))
    (session_dir / "risk_limits.yaml").write_text(
        f"# risk limit deltas for {strategy}, session {day}\n"
        f"strategy: {strategy}\n"
        "limits:\n"
        "  max_notional_usd: {before: 25000000, after: 30000000}\n"
        "  max_order_qty: {before: 5000, after: 5000}\n"
        "  max_drift_pct: {before: 0.5, after: 0.5}\n"
    )
    symbols = ["ES", "NQ", "CL", "GC", "ZN"]
    for name, header, row in (
        (
            "positions.csv",
            ["symbol", "qty", "avg_price"],
            lambda s: [s, rng.randint(-40, 40), round(rng.uniform(80, 5000), 2)],
        ),
        (
            "pnl.csv",
            ["symbol", "realized_usd", "unrealized_usd"],
            lambda s: [s, round(rng.uniform(-20000, 60000), 2), round(rng.uniform(-5000, 5000), 2)],
        ),
        (
            "exposure.csv",
            ["symbol", "gross_usd", "net_usd"],
            lambda s: [s, round(rng.uniform(1e5, 4e6), 2), round(rng.uniform(-2e6, 2e6), 2)],
        ),
    ):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(row(s) for s in symbols)
        (session_dir / name).write_text(buffer.getvalue())

    bundle = io.BytesIO()
    with tarfile.open(fileobj=bundle, mode="w:gz") as tar:
        for component in ("gateway", "execution", "risk"):
            lines = "".join(
                f"{(start + timedelta(seconds=i * 7)).isoformat()} {component} seq={i} status=ok\n"
                for i in range(400)
            ).encode()
            info = tarfile.TarInfo(f"observability/logs/{component}.log")
            info.size, info.mtime = len(lines), int(start.timestamp())
            tar.addfile(info, io.BytesIO(lines))
    (session_dir / f"logs_{stamp}.tar.gz").write_bytes(bundle.getvalue())
    if killed:
        (session_dir / "postmortem.md").write_text(
            f"# Postmortem: {strategy} kill-switch, {day}\n\n"
            "## Timeline\n\n- Kill switch engaged by the on-call operator.\n\n"
            "## Root cause\n\nTo be completed in the incident review.\n"
        )
    _log(f"session artefacts exported to {session_dir}")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradepulse-cli")
    parser.add_argument("--pace", type=float, default=0.05, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("deploy")
    p.add_argument("--env", required=True)
    p.add_argument("--strategy", required=True)
    p.add_argument("--artifact", required=True)
    p = sub.add_parser("validate")
    p.add_argument("--env", required=True)
    p.add_argument("--strategy", required=True)
    p.add_argument("--window", default="15m")
    p.add_argument("--mode", default="dry-run")
    p = sub.add_parser("settle")
    p.add_argument("--strategy", required=True)
    p = sub.add_parser("kill")
    p.add_argument("--strategy", required=True)
    p.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    return {"deploy": deploy, "validate": validate, "settle": settle, "kill": kill}[args.command](
        args
    )


if __name__ == "__main__":
    raise SystemExit(main())
