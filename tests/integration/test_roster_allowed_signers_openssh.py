"""OpenSSH judges the roster's key windows: `roster allowed-signers` fed to
`ssh-keygen -Y verify -Overify-time=...`. A key added, then revoked: a signature
at a time inside its window passes, one after the revocation (or before the key
was added) is refused, one claimed by another person is refused.
Without OpenSSH these skip, except under CI=true, where they fail."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clirunner import invoke
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.domain.sshsig import ssh_timestamp
from opsledger.services.bootstrap import Services
from opsledger.services.roster import (
    add_key,
    allowed_signers,
    found_roster,
    read_public_key,
    revoke_key,
)
from opsledger.services.settings import Settings
from sshkeys import require_openssh

ADMIN = "root.admin"
MESSAGE = b'{"action":"approve","signer":"bob.risk","target":"ticket:CHG-2041","v":1}'
ADDED = datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=UTC)
REVOKED = datetime(2026, 12, 3, 17, 30, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keygen() -> str:
    return require_openssh()


@pytest.fixture
def clock(monkeypatch) -> None:
    """The key is added at ADDED and revoked at REVOKED (the roster's clock)."""
    times = iter([ADDED, REVOKED])
    monkeypatch.setattr("opsledger.domain.roster.utcnow", lambda: next(times))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services(Settings.from_env(environ={"OPSLEDGER_HOME": str(tmp_path / "home"),
                                                   "OPSLEDGER_ACTOR": ADMIN}))
    yield services
    services.close()


def new_key(keygen: str, path: Path, kind: str = "ed25519") -> Path:
    args = {"ed25519": ["-t", "ed25519"], "ecdsa": ["-t", "ecdsa", "-b", "256"]}[kind]
    subprocess.run([keygen, "-q", *args, "-N", "", "-C", f"{path.name}@test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


def ssh_verify(keygen: str, tmp: Path, allowed: str, armored: str, at: datetime,
               principal: str = "bob.risk") -> subprocess.CompletedProcess:
    (tmp / "allowed_signers").write_text(allowed)
    (tmp / "message.sig").write_text(armored)
    cmd = [keygen, "-Y", "verify", "-f", str(tmp / "allowed_signers"), "-I", principal,
           "-n", "opsledger", "-s", str(tmp / "message.sig"),
           f"-Overify-time={ssh_timestamp(at)}"]
    return subprocess.run(cmd, input=MESSAGE, capture_output=True, timeout=30)


def judge(keygen: str, tmp: Path, allowed: str, armored: str) -> dict[str, int]:
    moments = {
        "before it was added": ADDED - timedelta(hours=1),
        "the second it was added": ADDED.replace(microsecond=0),
        "first whole second": ADDED.replace(microsecond=0) + timedelta(seconds=1),
        "inside the window": ADDED + timedelta(days=1),
        "last whole second": REVOKED - timedelta(seconds=1),
        "the revocation": REVOKED,
        "after the revocation": REVOKED + timedelta(hours=1),
    }
    return {what: ssh_verify(keygen, tmp, allowed, armored, at).returncode
            for what, at in moments.items()}


EXPECTED = {
    "before it was added": 255, "the second it was added": 255, "first whole second": 0,
    "inside the window": 0, "last whole second": 0, "the revocation": 255,
    "after the revocation": 255,
}


def test_openssh_accepts_a_signature_inside_the_window_and_refuses_one_after_revocation(
    keygen, services, tmp_path, clock
):
    root = new_key(keygen, tmp_path / "id_root")
    services.act_as(FileKeySigner(root))  # the founder signs with the key founded
    found_roster(services, administrator=ADMIN, actor=ADMIN, reason="desk set up",
                 public_key=read_public_key(root.with_name("id_root.pub")))
    bob = new_key(keygen, tmp_path / "id_bob")
    fp = add_key(services, "bob.risk", read_public_key(bob.with_name("id_bob.pub")),
                 actor=ADMIN, reason="issued").fingerprint
    revoke_key(services, "bob.risk", fp, actor=ADMIN, reason="laptop stolen")
    armored = FileKeySigner(bob).sign(MESSAGE)
    allowed = allowed_signers(services).text

    assert judge(keygen, tmp_path, allowed, armored) == EXPECTED
    inside = ssh_verify(keygen, tmp_path, allowed, armored, ADDED + timedelta(days=1))
    assert inside.stdout.decode().startswith('Good "opsledger" signature for bob.risk with')
    # The key is bob's: nobody else's signature, even at a time it was valid.
    other = ssh_verify(keygen, tmp_path, allowed, armored, ADDED + timedelta(days=1),
                       principal=ADMIN)
    assert other.returncode != 0
    # The roster as it stood before the revocation knew no end to the window.
    before = allowed_signers(services, at_version=2).text
    late = ssh_verify(keygen, tmp_path, before, armored, REVOKED + timedelta(hours=1))
    assert late.returncode == 0, late.stderr


def test_the_cli_prints_the_same_file_openssh_judges(keygen, tmp_path, clock):
    """Through `opsledger roster allowed-signers`, as an auditor would run it."""
    root = new_key(keygen, tmp_path / "id_root")
    # the founder signs with the key founded (issue 12)
    env = {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": ADMIN,
           "OPSLEDGER_IDENTITY": str(root)}
    bob = new_key(keygen, tmp_path / "id_bob", "ecdsa")
    steps = [["roster", "init", "--admin", ADMIN, "--key", str(root.with_name("id_root.pub"))],
             ["roster", "key", "add", "bob.risk", str(bob.with_name("id_bob.pub")),
              "--reason", "issued"]]
    for argv in steps:
        r = invoke(argv, env)
        assert r.code == 0, r.err
    fp = FileKeySigner(bob).fingerprint
    r = invoke(["roster", "key", "revoke", "bob.risk", fp, "--reason", "laptop stolen"], env)
    assert r.code == 0 and r.out.strip() == f"bob.risk: key {fp} revoked by {ADMIN}", r.err
    r = invoke(["roster", "allowed-signers"], env)
    assert r.code == 0, r.err
    armored = FileKeySigner(bob).sign(MESSAGE)
    assert judge(keygen, tmp_path, r.out, armored) == EXPECTED
