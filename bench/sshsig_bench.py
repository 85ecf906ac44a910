"""What an SSH signature costs per recorded command, and what verifying an archive costs.

Signing (ms per signature; the reference is OpenSSH's own `ssh-keygen -Y sign`,
one process per signature, measured in the same run):

- `FileKeySigner`, an ed25519 (and an ecdsa p256) key file signed in-process;
- `AgentSigner`, the same ed25519 key through a real ssh-agent this script starts.

Verifying (signatures per second; the reference is `ssh-keygen -Y verify`, one
process per signature): `CryptographyVerifier` on ed25519 and ecdsa p256.

Each measurement stops at `--count` operations or `--seconds`, whichever comes first.
Needs OpenSSH (ssh-keygen, ssh-agent, ssh-add) on PATH.

Run: ``.venv/bin/python bench/sshsig_bench.py [--count N] [--seconds S]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opsledger.adapters.ssh_signing import AgentSigner, CryptographyVerifier, FileKeySigner
from opsledger.domain.sshsig import allowed_signers_line, parse_public_key_line

MESSAGE = b'{"kind":"ApprovalGiven","ticket":"CHG-2041","version":7,"role":"risk-officer"}' * 4


def measure(op: Callable[[], object], count: int, seconds: float) -> tuple[float, int]:
    """(seconds per operation, operations run), after one warm-up call."""
    op()
    done, start = 0, time.perf_counter()
    while done < count and time.perf_counter() - start < seconds:
        op()
        done += 1
    return (time.perf_counter() - start) / done, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="in-process operations per figure")
    parser.add_argument("--process-count", type=int, default=40, help="ssh-keygen runs per figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="time limit per figure")
    args = parser.parse_args()
    tools = {name: shutil.which(name) for name in ("ssh-keygen", "ssh-agent", "ssh-add")}
    if not all(tools.values()):
        print(f"needs OpenSSH: {tools}", file=sys.stderr)
        return 2
    keygen = tools["ssh-keygen"]
    with tempfile.TemporaryDirectory(prefix="sshsig-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for kind, extra in (("ed25519", []), ("ecdsa", ["-b", "256"])):
            subprocess.run([keygen, "-q", "-t", kind, *extra, "-N", "", "-f", str(tmp / kind)], check=True)
        sock = tmp / "agent.sock"
        agent = subprocess.Popen([tools["ssh-agent"], "-D", "-a", str(sock)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not sock.exists():
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("ssh-agent did not start")
                time.sleep(0.02)
            subprocess.run([tools["ssh-add"], "-q", str(tmp / "ed25519")], check=True,
                           env={"SSH_AUTH_SOCK": str(sock)}, capture_output=True)
            run(args, tmp, keygen, sock)
        finally:
            agent.terminate()
            agent.wait(timeout=10)
    return 0


def run(args: argparse.Namespace, tmp: Path, keygen: str, sock: Path) -> None:
    (tmp / "message").write_bytes(MESSAGE)
    file_ed, file_ec = FileKeySigner(tmp / "ed25519"), FileKeySigner(tmp / "ecdsa")
    agent_ed = AgentSigner(sock, fingerprint=file_ed.fingerprint)

    def keygen_sign() -> bytes:
        return subprocess.run([keygen, "-Y", "sign", "-n", "opsledger", "-f", str(tmp / "ed25519")],
                              input=MESSAGE, capture_output=True, check=True).stdout

    n, secs, pn = args.count, args.seconds, args.process_count
    ref, ref_n = measure(keygen_sign, pn, secs)
    print(f"signing one {len(MESSAGE)}-byte command (ms/signature; ratio to ssh-keygen -Y sign)")
    print(f"  {'ssh-keygen -Y sign (subprocess)':38s} {ref * 1e3:8.3f} ms  x1.00  ({ref_n} runs)")
    for name, op in (("FileKeySigner ed25519 (in-process)", lambda: file_ed.sign(MESSAGE)),
                     ("FileKeySigner ecdsa p256 (in-process)", lambda: file_ec.sign(MESSAGE)),
                     ("AgentSigner ed25519 (ssh-agent socket)", lambda: agent_ed.sign(MESSAGE))):
        per, runs = measure(op, n, secs)
        print(f"  {name:38s} {per * 1e3:8.3f} ms  x{per / ref:.4f}  ({runs} runs; {ref / per:.0f}x faster)")

    verifier = CryptographyVerifier()
    print("verifying (signatures/s; ratio to ssh-keygen -Y verify)")
    for kind, signer in (("ed25519", file_ed), ("ecdsa p256", file_ec)):
        armored = signer.sign(MESSAGE)
        key = parse_public_key_line(signer.public_key_line)
        (tmp / "allowed").write_text(allowed_signers_line(["bench"], key) + "\n")
        (tmp / "sig").write_text(armored)
        cmd = [keygen, "-Y", "verify", "-f", str(tmp / "allowed"), "-I", "bench", "-n", "opsledger",
               "-s", str(tmp / "sig")]
        ref_v, ref_vn = measure(lambda c=cmd: subprocess.run(c, input=MESSAGE, capture_output=True, check=True),
                                pn, secs)
        per, runs = measure(lambda a=armored: verifier.verify(a, MESSAGE), n, secs)
        print(f"  {kind:11s} CryptographyVerifier {1 / per:9.0f}/s   ssh-keygen -Y verify {1 / ref_v:7.1f}/s"
              f"   x{ref_v / per:.0f}  ({runs} / {ref_vn} runs)")


if __name__ == "__main__":
    raise SystemExit(main())
