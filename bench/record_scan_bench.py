"""What screening a recording command's strings costs (services.recorded).

Every recording call's arguments are screened for secrets before they are
signed. This times that screen over typical arguments (a deploy's argv, a
reason, alert labels and annotations), in-process, after the first call: the
CLI imports the scanner's modules at start-up for every command already (the
archive commands need them), so the screen is all a command adds.

Usage: python bench/record_scan_bench.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from opsledger.services.recorded import commitment, screen_arguments

ARGS = {
    "key": "CHG-2041", "command": "deploy",
    "argv": ["tradepulse-cli", "deploy", "--env", "prod", "--strategy", "momo-1",
             "--artifact", "sha256:" + "ab" * 32, "--window", "15m", "--mode", "dry-run",
             "--db", "postgresql://trader@db.internal:5432/risk"],
    "log_path": "reports/live/2026-11-23/deploy.log", "reason": "drift 2% over limit",
    "breaches": [{"labels": {"alertname": "Latency", "severity": "critical"},
                  "annotations": {"summary": "p95 163 ms over 120 ms"}}] * 4,
}
SECRET_ARGS = dict(ARGS, reason="rotated ghp_Zq8vN3kP1xWt5Rb9Lm2Yc7Hd4Gf6Js0Ta3Ue")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    runs = parser.parse_args().runs
    key = b"k" * 32
    start = time.perf_counter()
    screen_arguments("start_command", ARGS, redact=False, commit=lambda b: commitment(key, b))
    first = time.perf_counter() - start
    for name, args in (("clean", ARGS), ("redacting", SECRET_ARGS)):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            screen_arguments("start_command", args, redact=True,
                             commit=lambda b: commitment(key, b))
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"{name:9s} screen: median {statistics.median(times) * 1000:.3f} ms, "
              f"p99 {times[int(len(times) * 0.99)] * 1000:.3f} ms")
    print(f"first call in the process: {first * 1000:.3f} ms (target: under 5 ms)")


if __name__ == "__main__":
    main()
