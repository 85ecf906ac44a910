"""Peak memory and throughput of reading a large Prometheus export (issue 15).

Writes a query_range export of about SIZE MiB (default 256), shaped like the demo's:
several series of the runbook's metrics at 1 s resolution, latency values as full
float reprs, every series matched by the policy (the worst case: all samples kept).
Then, in a child process, reads and evaluates it as `sla evaluate` does, and prints the
child's peak RSS (VmHWM) and the parse throughput.

    .venv/bin/python bench/sla_memory.py [--size MIB] [--gzip] [--keep FILE]
"""

from __future__ import annotations

import argparse
import gzip
import random
import subprocess
import sys
import tempfile
from pathlib import Path

T0 = 1_714_550_400
METRICS = ("metrics_execution_latency", "metrics_portfolio_drift",
           "metrics_ingestion_heartbeat", "metrics_risk_heartbeat")

CHILD = """
import sys, time
from opsledger.domain.sla import Policy, evaluate, iter_prometheus
policy = Policy()
rules = [r for r in policy.rules if r.enabled]
keep = lambda m, labels: any(r.selects(m, dict(labels)) for r in rules)
began, cpu = time.monotonic(), time.process_time()
with open(sys.argv[1], "rb") as stream:
    result = evaluate(policy, iter_prometheus(stream, sys.argv[1], keep=keep))
seconds, cpu = time.monotonic() - began, time.process_time() - cpu
samples = sum(s.samples for s in result.series)
hwm = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(hwm, seconds, cpu, samples, len(result.breaches))
"""


def write_export(path: Path, size: int, packed: bool) -> int:
    """Streams the document out, never holding it; returns the bytes of JSON written."""
    rng = random.Random(15)
    opener = gzip.open if packed else open
    written = 0
    with opener(path, "wt") as out:
        def put(text: str) -> None:
            nonlocal written
            out.write(text)
            written += len(text)

        put('{"status": "success", "data": {"resultType": "matrix", "result": [')
        series = 0
        while written < size:
            metric = METRICS[series % len(METRICS)]
            put(("" if series == 0 else ", ")
                + f'{{"metric": {{"__name__": "{metric}", "strategy": "s{series}"}}, "values": [')
            count = 0
            for i in range(86_400):
                if metric.endswith("latency"):
                    value = repr(70 + rng.random() * 20)
                elif metric.endswith("drift"):
                    value = repr(rng.gauss(0, 0.1))
                else:
                    value = repr(float(i))
                put(("" if count == 0 else ", ") + f'[{T0 + i}, "{value}"]')
                count += 1
                if written >= size:
                    break
            put("]}")
            series += 1
        put("]}}")
    return written


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256, help="MiB of JSON")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--keep", type=Path, help="write the export here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / ("export.json.gz" if args.gzip else "export.json")
        if not path.exists():
            write_export(path, args.size << 20, args.gzip)
        on_disk = path.stat().st_size
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True,
                             capture_output=True, text=True)
        hwm_kib, seconds, cpu, samples, breaches = out.stdout.split()
        mib = args.size if args.gzip else on_disk / 2**20
        print(f"export: {on_disk / 2**20:.1f} MiB on disk ({mib:.0f} MiB of JSON), "
              f"{int(samples):,} samples, {breaches} breaches")
        print(f"peak RSS of the reading process: {int(hwm_kib) / 1024:.0f} MiB")
        print(f"read + evaluate: {float(seconds):.1f} s wall, {float(cpu):.1f} s CPU = "
              f"{mib / float(cpu):.1f} MiB/s of JSON per CPU second, "
              f"{int(samples) / float(cpu) / 1e6:.2f} M samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
