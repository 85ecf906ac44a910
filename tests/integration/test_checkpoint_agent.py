"""The log's checkpoint key held by an ssh-agent, as a deployment runs it
under another account: the account writing events asks for signatures
through the socket but never holds the key."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clirunner import invoke
from sshkeys import require_openssh, write_key_file


@pytest.fixture
def agent(tmp_path: Path):
    require_openssh()
    socket_path = tmp_path / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if socket_path.exists():
            break
        time.sleep(0.02)
    key = write_key_file(tmp_path / "log_key", "ed25519")
    subprocess.run(["ssh-add", str(key)], check=True, capture_output=True,
                   env={**os.environ, "SSH_AUTH_SOCK": str(socket_path)})
    key.unlink()  # the events' account keeps no copy of the log key
    yield socket_path
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def test_checkpoints_signed_by_an_agent_held_key_verify_with_its_public_key(agent, tmp_path):
    from opsledger.adapters.signing_keys import AgentEd25519Signer, Ed25519Verifier
    from opsledger.domain.checkpoint import (
        Checkpoint,
        InvalidSignatureError,
        open_checkpoint,
        sign_checkpoint,
    )

    signer = AgentEd25519Signer("desk.example/ledger", agent)
    note = sign_checkpoint(Checkpoint("desk.example/ledger", 3, b"\x01" * 32), [signer])
    verifier = Ed25519Verifier.from_verifier_key(signer.verifier_key)
    assert open_checkpoint(note, [verifier]).checkpoint.size == 3
    forged = note.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(forged, [verifier])


def test_the_cli_signs_checkpoints_through_the_agent(agent, tmp_path):
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_SIGNING_AGENT": str(agent),
           "OPSLEDGER_SIGNING_NAME": "desk.example/ledger", "OPSLEDGER_ACTOR": "alice.rm"}
    from clirunner import staff

    staff(env)
    signed = invoke(["ledger", "checkpoint", "--publish", str(tmp_path / "published")], env)
    assert signed.code == 0, signed.err
    assert signed.out.startswith("desk.example/ledger\n")
    assert not (tmp_path / "home" / "keys" / "ledger.key").exists()
    verified = invoke(["ledger", "verify"], {**env})
    assert verified.code in (0, 3), verified.out + verified.err
    published = invoke(["ledger", "verify", "--published", str(tmp_path / "published")], env)
    assert published.code == 0, published.out + published.err
    assert '"signatures_checked": true' in invoke(
        ["ledger", "verify", "--published", str(tmp_path / "published"), "--json"], env).out
