"""Cost per seal of witness cosigning: two local witnesses (HTTP on 127.0.0.1, threads).

For each of N tickets, the ledger's part of a seal (`ledger_tag_files`: seal
the tree, sign, proofs) is timed without witnesses and, for the next ticket,
with two; the cosigning alone is the `request_cosignatures` time (two
add-checkpoint round trips, consistency proofs from the ledger, checking the
answers). Prints the medians in ms.

    .venv/bin/python bench/witness_bench.py [--tickets 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from opsledger.adapters.witness_http import WitnessClient  # noqa: E402
from opsledger.domain.application import OpsLedger  # noqa: E402
from opsledger.services.archive_history import events_jsonl  # noqa: E402
from opsledger.services.bootstrap import Services  # noqa: E402
from opsledger.services.keys import init_key  # noqa: E402
from opsledger.services.ledger_archive import ledger_tag_files  # noqa: E402
from opsledger.services.settings import Settings  # noqa: E402
from opsledger.services.witness import init_witness, open_witness, witness_server  # noqa: E402
from story import approve_all, attach_all, open_ticket  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="witness-bench-"))
    settings = Settings(home=tmp / "home")
    settings.home.mkdir()
    app = OpsLedger(env=settings.event_store_env())
    keys = [f"CHG-{5000 + i}" for i in range(2 * args.tickets)]
    for key in keys:
        open_ticket(app, key)
        attach_all(app, key)
        approve_all(app, key)
    app.close()
    plain = Services(settings)
    log_key = init_key(plain).verifier_key
    found, servers = [], []
    for n in (1, 2):
        w = init_witness(tmp / f"w{n}.key", f"bench{n}.example/w")
        server = witness_server(open_witness(w.key_file, tmp / f"w{n}", [f"opsledger.local/ledger={log_key}"]))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        found.append(f"http://127.0.0.1:{server.server_address[1]}={w.verifier_key}")
    calls: list[float] = []
    original = WitnessClient.add_checkpoint

    def timed(self, body):
        start = time.perf_counter()
        try:
            return original(self, body)
        finally:
            calls.append((time.perf_counter() - start) * 1000)

    WitnessClient.add_checkpoint = timed
    witnessed = Services(replace(settings, witnesses=tuple(found)))
    without, with_, cosigning = [], [], []
    notes: list[str] = []
    try:
        # first all seals without witnesses, then all with: a desk that has witnesses
        # configured asks them at every seal, so the old-size hint (the seal before) is right
        for services, batch, out in ((plain, keys[: args.tickets], without),
                                     (witnessed, keys[args.tickets :], with_)):
            for key in batch:
                events = events_jsonl(services, key)[0]
                start = time.perf_counter()
                _, info = ledger_tag_files(services, key, events, notify=notes.append)
                out.append((time.perf_counter() - start) * 1000)
        assert dict(info)["Opsledger-Witnesses"].startswith("2 of 2"), info
        cosigning = [float(n.rsplit(", ", 1)[1].split()[0]) for n in notes if "witnesses 2 of 2" in n]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        plain.close()
        witnessed.close()
    print(f"{args.tickets} seals each; medians (ms):")
    print(f"  ledger part of a seal, no witnesses : {statistics.median(without):7.2f}")
    print(f"  ledger part of a seal, two witnesses: {statistics.median(with_):7.2f}")
    print(f"  HTTP add-checkpoint calls: {len(calls)}, median {statistics.median(calls):.2f} ms "
          f"(witness side: parse, verify the log's signature and the proof, cosign, fsync twice)")
    print(f"  of which cosigning (two witnesses, asked at once):         "
          f"{statistics.median(cosigning):7.2f}  (p90 {sorted(cosigning)[int(len(cosigning) * .9)]:.2f})")


if __name__ == "__main__":
    main()
