"""What signing costs a recorded command, and how fast an archive's
signatures replay.

Per command: the same evidence attachment recorded N times through the
application unsigned (the reference), then signed with a key file, then
signed through a real ssh-agent started here; prints ms per command and the
ratio to the reference. Replay: every stored event's signature checked
(SSHSIG verify, roster key lookup, target, position, arguments) against
decoding the same events alone; prints signatures/s and the ratio.

    python bench/signing_bench.py [--commands 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from opsledger.adapters.ssh_signing import AgentSigner, CryptographyVerifier, create_ed25519_key
from opsledger.archiver.verify.identity import replay_identity
from opsledger.domain.runbook import Env, Role
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings

SHA = "cd" * 32


def desk(folder: Path) -> tuple[Services, dict]:
    services = Services(Settings(home=folder / "home"))
    keys = {p: create_ed25519_key(folder / "keys" / p) for p in ("root", "second", "alice", "dave")}
    services.act_as(keys["root"])
    services.app.found_roster(administrator="root", actor="root", reason="bench",
                              second_administrator="second",
                              second_public_key=keys["second"].public_key_line)
    for person, role in (("alice", Role.RELEASE_MANAGER), ("dave", Role.DEV_LEAD)):
        services.app.add_key(person, public_key=keys[person].public_key_line, actor="root",
                             reason="bench")
        services.app.grant_role(person, role, actor="root", reason="bench")
    services.act_as(keys["dave"])
    for key in ("CHG-1", "CHG-2", "CHG-3"):  # one per phase: each grows the same way
        services.app.open_ticket(key=key, strategy="s", env=Env.PROD,
                                 artifact_digest="sha256:" + "ab" * 32, actor=None, role=None)
    return services, keys


def per_command(record, n: int) -> float:
    began = time.perf_counter()
    for i in range(n):
        record(i)
    return (time.perf_counter() - began) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    n = parser.parse_args().commands
    folder = Path(tempfile.mkdtemp(prefix="opsledger-signing-bench-"))
    agent = None
    try:
        services, keys = desk(folder)

        def attach(app, key: str, i: int) -> None:
            app.attach_evidence(key, check="approvals", path=f"e{i}.md", sha256=SHA, size=i,
                                actor="alice", role=None)

        unsigned = per_command(lambda i: attach(services.ledger_app, "CHG-1", i), n)
        services.act_as(keys["alice"])
        file_key = per_command(lambda i: attach(services.app, "CHG-2", i), n)
        socket_path = folder / "agent.sock"
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.02)
        subprocess.run(["ssh-add", str(folder / "keys" / "alice")], check=True,
                       env={**os.environ, "SSH_AUTH_SOCK": str(socket_path)},
                       capture_output=True)
        services.act_as(AgentSigner(socket_path))
        agent_key = per_command(lambda i: attach(services.app, "CHG-3", i), n)
        print(f"per command ({n} evidence attachments, SQLite):")
        print(f"  unsigned (reference)   {unsigned:7.2f} ms")
        print(f"  signed, key file       {file_key:7.2f} ms  x{file_key / unsigned:.2f}  "
              f"(+{file_key - unsigned:.2f} ms)")
        print(f"  signed, ssh-agent      {agent_key:7.2f} ms  x{agent_key / unsigned:.2f}  "
              f"(+{agent_key - unsigned:.2f} ms)")

        app = services.ledger_app
        began = time.perf_counter()
        rows = [(f"position {e.id}", json.loads(e.state), app.mapper.to_domain_event(e))
                for e in app.notifications()]
        decode = time.perf_counter() - began
        began = time.perf_counter()
        findings = replay_identity(rows, CryptographyVerifier(), unsigned_is_finding=False)
        replay = time.perf_counter() - began
        signed = sum(1 for _, _, e in rows if e.signature is not None)
        assert not findings, findings[:3]
        print(f"replay of {signed} signatures: {signed / replay:,.0f} signatures/s; "
              f"decoding alone {len(rows) / decode:,.0f} events/s (ratio "
              f"{(signed / replay) / (len(rows) / decode):.2f})")
        services.close()
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
