"""Issue 13's figures, in one run: what publishing and witnesses add to a seal,
and `archive verify` with every check on against the plain read of the archive.

Part 1, per seal (N tickets each, medians in ms): the ledger's part of a seal
(`ledger_tag_files`: seal the tree, sign, proofs) alone; with its checkpoint
published create-only to the local archive store; with that and two real
witnesses (HTTP on 127.0.0.1, threads in this process) cosigning it. Ratios are
to the seal without either; part 2 prints a whole `archive build` for scale.

Part 2: the demo's session with a generated payload (`--size-mib`, as
archive_bench generates it) sealed by `archive build`, then `verify_target`
with the log's public key (integrity, zstd frames, every signature replayed,
roster authority, payload binding, Merkle proofs) against, on the same file
and in the same run: `zstd -dc | tar -tf -` (the plain read) and
`zstd -dc | sha256sum`. Best of `--repeat`, interleaved (a shared machine).

    .venv/bin/python bench/seal_publish_bench.py [--tickets 20] [--size-mib 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from archive_bench import MiB, generate_session  # noqa: E402
from opsledger.domain.application import OpsLedger  # noqa: E402
from opsledger.services.archive_check import verify_target  # noqa: E402
from opsledger.services.archive_history import events_jsonl  # noqa: E402
from opsledger.services.bootstrap import Services  # noqa: E402
from opsledger.services.keys import init_key  # noqa: E402
from opsledger.services.ledger_archive import ledger_tag_files  # noqa: E402
from opsledger.services.settings import Settings  # noqa: E402
from opsledger.services.witness import init_witness, open_witness, witness_server  # noqa: E402
from story import approve_all, attach_all, open_ticket  # noqa: E402

EXE = [str(Path(sys.executable).with_name("opsledger"))]


def per_seal(tickets: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="seal-bench-"))
    settings = Settings(home=tmp / "home")
    settings.home.mkdir()
    app = OpsLedger(env=settings.event_store_env())
    keys = [f"CHG-{6000 + i}" for i in range(3 * tickets)]
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
        server = witness_server(open_witness(w.key_file, tmp / f"w{n}",
                                             [f"opsledger.local/ledger={log_key}"]))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        found.append(f"http://127.0.0.1:{server.server_address[1]}={w.verifier_key}")
    witnessed = Services(replace(settings, witnesses=tuple(found)))
    store = plain.archive_store()
    runs: dict[str, list[float]] = {"bare": [], "published": [], "witnessed": []}
    notes: list[str] = []
    try:
        # in log order, each configuration on its own third of the tickets, so that
        # every seal's tree is larger than the one before (as on a desk)
        plan = [("bare", plain, None), ("published", plain, store), ("witnessed", witnessed, store)]
        for i, (label, services, publish_in) in enumerate(plan):
            for key in keys[i * tickets:(i + 1) * tickets]:
                events = events_jsonl(services, key)[0]
                start = time.perf_counter()
                _, info = ledger_tag_files(services, key, events, notify=notes.append,
                                           publish_in=publish_in)
                runs[label].append((time.perf_counter() - start) * 1000)
        assert dict(info)["Opsledger-Witnesses"].startswith("2 of 2"), info
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        plain.close()
        witnessed.close()
    bare = statistics.median(runs["bare"])
    print(f"Per seal, ledger part ({tickets} seals each, medians):")
    print(f"  sign + proofs                     {bare:7.2f} ms")
    for label, what in (("published", "+ publish the checkpoint"),
                        ("witnessed", "+ publish + two witnesses")):
        median = statistics.median(runs[label])
        print(f"  {what:32s}  {median:7.2f} ms  (+{median - bare:.2f} ms, x{median / bare:.2f})")


def _best(fn, repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def _timed_shell(script: str) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def verify_throughput(size_mib: int, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    subprocess.run([*EXE, "demo", "--dir", str(tmp / "d"), "--no-archive"], cwd=tmp, env=env,
                   check=True, capture_output=True)
    home = tmp / "d" / ".opsledger"
    session = next((tmp / "d" / "reports" / "live").iterdir()) / "CHG-2041"
    generate_session(session / "bulk", size_mib * MiB, 7)
    env |= {"OPSLEDGER_HOME": str(home), "OPSLEDGER_IDENTITY": str(tmp / "d" / "keys" / "alice.rm")}
    subprocess.run([*EXE, "keys", "init"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    built = subprocess.run([*EXE, "archive", "build", "CHG-2041", "--session-dir", str(session),
                            "--json"], env=env, check=True, capture_output=True, text=True)
    build_s = time.perf_counter() - start
    archive = Path(json.loads(built.stdout)["location"].removeprefix("file://"))
    key = (home / "keys" / "ledger.pub").read_text().strip()
    services = Services(Settings(home=tmp / "offline"))

    def verify() -> float:
        t = time.perf_counter()
        document = verify_target(services, str(archive), public_key=key)
        assert document["ok"] and document["provenance"] == "verified", document["findings"]
        return time.perf_counter() - t

    read = f"zstd -dc '{archive}' | tar -tf - > /dev/null"
    digest = f"zstd -dc '{archive}' | sha256sum"
    results = {"verify": [], "read": [], "digest": []}
    for _ in range(repeat):  # interleaved
        results["verify"].append(verify())
        results["read"].append(_timed_shell(read))
        results["digest"].append(_timed_shell(digest))
    services.close()
    tar_mib = int(subprocess.run(["bash", "-c", f"zstd -dc '{archive}' | wc -c"], check=True,
                                 capture_output=True, text=True).stdout) / MiB
    best = {k: min(v) for k, v in results.items()}
    print(f"archive verify, all checks on: {archive.stat().st_size / MiB:.0f} MiB archive, "
          f"{tar_mib:.0f} MiB of tar (archive build took {build_s:.1f} s), best of {repeat}:")
    for label, what in (("verify", "verify_target --public-key (all checks)"),
                        ("read", "zstd -dc | tar -tf - (plain read)"),
                        ("digest", "zstd -dc | sha256sum")):
        print(f"  {what:42s} {best[label]:6.2f} s  {tar_mib / best[label]:7.0f} MiB/s")
    print(f"  ratio plain read / verify: {best['read'] / best['verify']:.2f}; "
          f"zstd|sha256sum / verify: {best['digest'] / best['verify']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    per_seal(args.tickets)
    verify_throughput(args.size_mib, args.repeat)


if __name__ == "__main__":
    main()
