"""OpenSSH is the judge: ssh-keygen, ssh-agent and ssh-add against domain.sshsig and
adapters.ssh_signing. Without OpenSSH these skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opsledger.adapters.ssh_signing import AgentSigner, CryptographyVerifier, FileKeySigner
from opsledger.domain.sshsig import (
    InvalidSshSignature,
    SshSignature,
    SshSignatureError,
    SshSigningError,
    allowed_signers_line,
    armor,
    dearmor,
    parse_public_key_line,
)
from sshkeys import SoftwareSkSigner, header_only_key_file, require_openssh

KEYGEN_ARGS = {
    "ed25519": ["-t", "ed25519"], "ecdsa-256": ["-t", "ecdsa", "-b", "256"],
    "ecdsa-384": ["-t", "ecdsa", "-b", "384"], "ecdsa-521": ["-t", "ecdsa", "-b", "521"],
    "rsa": ["-t", "rsa", "-b", "3072"],
}
MESSAGE = b"opsledger approve CHG-2041 risk-signoff v7\n\x00\xff binary tail"
VERIFIER = CryptographyVerifier()


@pytest.fixture(scope="module")
def keygen() -> str:
    return require_openssh()


def new_key(keygen: str, path: Path, kind: str, passphrase: str = "") -> Path:
    subprocess.run([keygen, "-q", *KEYGEN_ARGS[kind], "-N", passphrase, "-C", f"{path.name}@test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


def openssh_verify(keygen: str, tmp: Path, line: str, armored: str, message: bytes, *,
                   principal: str = "alice.rm", namespace: str = "opsledger",
                   options: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    (tmp / "allowed_signers").write_text(line + "\n")
    (tmp / "sig").write_text(armored)
    cmd = [keygen, "-Y", "verify", "-f", str(tmp / "allowed_signers"), "-I", principal, "-n", namespace,
           "-s", str(tmp / "sig"), *(f"-O{o}" for o in options)]
    return subprocess.run(cmd, input=message, capture_output=True, env=env, timeout=30)


def signer_line(signer, principal: str = "alice.rm", **window) -> str:
    return allowed_signers_line([principal], parse_public_key_line(signer.public_key_line), **window)


@pytest.mark.parametrize("kind", KEYGEN_ARGS)
def test_fingerprint_and_public_line_are_ssh_keygens(keygen: str, tmp_path: Path, kind: str) -> None:
    key = new_key(keygen, tmp_path / "id", kind)
    pub = (tmp_path / "id.pub").read_text()
    printed = subprocess.run([keygen, "-lf", str(tmp_path / "id.pub")], capture_output=True, text=True, check=True)
    signer = FileKeySigner(key)
    assert signer.in_process and signer.fingerprint == printed.stdout.split()[1]
    assert signer.public_key_line == " ".join(pub.split()[:2])
    assert parse_public_key_line(pub).comment == "id@test"


@pytest.mark.parametrize("kind", KEYGEN_ARGS)
def test_our_file_key_signatures_pass_ssh_keygen_verify(keygen: str, tmp_path: Path, kind: str) -> None:
    signer = FileKeySigner(new_key(keygen, tmp_path / "id", kind))
    armored = signer.sign(MESSAGE)
    done = openssh_verify(keygen, tmp_path, signer_line(signer), armored, MESSAGE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith('Good "opsledger" signature for alice.rm with')
    assert VERIFIER.verify(armored, MESSAGE).fingerprint == signer.fingerprint


def test_validity_window_is_enforced_by_ssh_keygen_in_utc(keygen: str, tmp_path: Path) -> None:
    signer = FileKeySigner(new_key(keygen, tmp_path / "id", "ed25519"))
    after = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)
    before = datetime(2026, 6, 30, 17, 30, 0, tzinfo=UTC)
    line = signer_line(signer, valid_after=after, valid_before=before)
    assert 'valid-after="20260101090000Z",valid-before="20260630173000Z"' in line
    armored = signer.sign(MESSAGE)
    far_east = {"TZ": "UTC-14"}  # a Z-less timestamp would be read 14 hours off
    verdicts = {}
    for moment in (after - timedelta(seconds=1), after, datetime(2026, 3, 1, tzinfo=UTC), before,
                   before + timedelta(seconds=1)):
        at = moment.strftime("%Y%m%d%H%M%SZ")
        done = openssh_verify(keygen, tmp_path, line, armored, MESSAGE, options=(f"verify-time={at}",), env=far_east)
        verdicts[at] = done.returncode == 0
    assert list(verdicts.values()) == [False, True, True, True, False], verdicts


@pytest.mark.parametrize("hashalg", ["sha512", "sha256"])
@pytest.mark.parametrize("kind", KEYGEN_ARGS)
def test_ssh_keygen_signatures_pass_our_verifier(keygen: str, tmp_path: Path, kind: str, hashalg: str) -> None:
    key = new_key(keygen, tmp_path / "id", kind)
    done = subprocess.run([keygen, "-Y", "sign", "-n", "opsledger", "-f", str(key), f"-Ohashalg={hashalg}"],
                          input=MESSAGE, capture_output=True, check=True)
    armored = done.stdout.decode()
    got = VERIFIER.verify(armored, MESSAGE)
    pub = parse_public_key_line((tmp_path / "id.pub").read_text())
    assert (got.key_type, got.fingerprint, got.hash_algorithm) == (pub.key_type, pub.fingerprint, hashalg)
    assert SshSignature.from_armored(armored).armor() == armored  # our armor is ssh-keygen's, byte for byte
    with pytest.raises(InvalidSshSignature):
        VERIFIER.verify(armored, MESSAGE + b"!")


def _flip(armored: str, at: int) -> str:
    blob = bytearray(dearmor(armored))
    blob[at] ^= 0x01
    return armor(bytes(blob))


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-256", "rsa"])
def test_every_alteration_is_refused_by_both_judges(keygen: str, tmp_path: Path, kind: str) -> None:
    signer = FileKeySigner(new_key(keygen, tmp_path / "id", kind))
    line, armored = signer_line(signer), signer.sign(MESSAGE)
    key_end = 6 + 4 + 4 + len(parse_public_key_line(signer.public_key_line).blob) - 1  # key's last byte
    cases = {
        "message": (armored, MESSAGE[:-1] + b"X", "opsledger"),
        "signature": (_flip(armored, len(dearmor(armored)) - 2), MESSAGE, "opsledger"),
        "namespace asked": (armored, MESSAGE, "git"),
        "namespace signed": (FileKeySigner(tmp_path / "id").sign(MESSAGE, "git"), MESSAGE, "opsledger"),
        "key": (_flip(armored, key_end), MESSAGE, "opsledger"),
    }
    for name, (sig, message, namespace) in cases.items():
        done = openssh_verify(keygen, tmp_path, line, sig, message, namespace=namespace)
        assert done.returncode != 0, f"ssh-keygen accepted an altered {name}"
        with pytest.raises(SshSignatureError):
            VERIFIER.verify(sig, message, namespace)
    # another person's key in allowed_signers: ssh-keygen refuses; ours names the real signer
    other = FileKeySigner(new_key(keygen, tmp_path / "other", "ed25519"))
    assert openssh_verify(keygen, tmp_path, signer_line(other), armored, MESSAGE).returncode != 0
    assert VERIFIER.verify(armored, MESSAGE).fingerprint != other.fingerprint


@pytest.fixture
def ssh_agent(keygen: str, tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen([shutil.which("ssh-agent") or "ssh-agent", "-D", "-a", str(sock)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert agent.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        yield sock
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def ssh_add(sock: Path, key: Path) -> None:
    subprocess.run([shutil.which("ssh-add") or "ssh-add", "-q", str(key)], env={"SSH_AUTH_SOCK": str(sock)},
                   check=True, capture_output=True, timeout=30)


def test_agent_signer_with_a_real_ssh_agent(keygen: str, tmp_path: Path, ssh_agent: Path) -> None:
    keys = {kind: new_key(keygen, tmp_path / kind, kind) for kind in ("ed25519", "ecdsa-384", "rsa")}
    for key in keys.values():
        ssh_add(ssh_agent, key)
    first = AgentSigner(ssh_agent)
    assert first.fingerprint == FileKeySigner(keys["ed25519"]).fingerprint  # the agent's first key
    for kind, key in keys.items():
        signer = AgentSigner(ssh_agent, fingerprint=FileKeySigner(key).fingerprint)
        armored = signer.sign(MESSAGE)
        done = openssh_verify(keygen, tmp_path, signer_line(signer), armored, MESSAGE)
        assert done.returncode == 0, (kind, done.stderr)
        assert VERIFIER.verify(armored, MESSAGE).fingerprint == signer.fingerprint
    assert "rsa-sha2-512" in SshSignature.from_armored(signer.sign(MESSAGE)).signature.decode("latin-1")
    with pytest.raises(SshSigningError, match="does not hold the key"):
        AgentSigner(ssh_agent, fingerprint="SHA256:not-a-key-it-holds")


def test_passphrase_protected_file_is_signed_by_ssh_keygen(keygen: str, tmp_path: Path) -> None:
    key = new_key(keygen, tmp_path / "id", "ed25519", passphrase="correct horse")
    askpass = tmp_path / "askpass"
    askpass.write_text("#!/bin/sh\necho 'correct horse'\n")
    askpass.chmod(0o700)
    env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "PATH": "/usr/bin:/bin"}
    signer = FileKeySigner(key, env=env, timeout=30)
    assert not signer.in_process
    assert signer.fingerprint == parse_public_key_line((tmp_path / "id.pub").read_text()).fingerprint
    armored = signer.sign(MESSAGE)
    assert openssh_verify(keygen, tmp_path, signer_line(signer), armored, MESSAGE).returncode == 0
    assert VERIFIER.verify(armored, MESSAGE).fingerprint == signer.fingerprint
    askpass.write_text("#!/bin/sh\necho 'wrong'\n")
    with pytest.raises(SshSigningError, match="failed"):
        signer.sign(MESSAGE)


def test_sk_key_file_is_handed_to_ssh_keygen_which_needs_the_token(keygen: str, tmp_path: Path) -> None:
    sk_file = header_only_key_file(tmp_path / "id_ed25519_sk", SoftwareSkSigner().blob, cipher="none")
    signer = FileKeySigner(sk_file, env={"PATH": "/usr/bin:/bin"}, timeout=30)
    assert not signer.in_process and signer.public_key_line.startswith("sk-ssh-ed25519@openssh.com ")
    with pytest.raises(SshSigningError, match="ssh-keygen -Y sign"):
        signer.sign(MESSAGE)  # no token here (and an opaque private part): refused, clearly


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_fido_signatures_made_in_software_pass_ssh_keygen(keygen: str, tmp_path: Path, kind: str) -> None:
    signer = SoftwareSkSigner(kind)
    (tmp_path / "sk.pub").write_text(signer.public_key_line + "\n")
    printed = subprocess.run([keygen, "-lf", str(tmp_path / "sk.pub")], capture_output=True, text=True, check=True)
    assert printed.stdout.split()[1] == signer.fingerprint
    armored = signer.sign(MESSAGE)
    done = openssh_verify(keygen, tmp_path, signer_line(signer), armored, MESSAGE)
    assert done.returncode == 0, done.stderr
    assert f"{kind.upper()}-SK key {signer.fingerprint}" in done.stdout.decode()
    got = VERIFIER.verify(armored, MESSAGE)
    assert (got.key_type, got.sk_flags, got.sk_counter) == (signer.key_type, 1, 7)
    wrong_app = signer.sign(MESSAGE, signed_app="ssh:elsewhere")
    assert openssh_verify(keygen, tmp_path, signer_line(signer), wrong_app, MESSAGE).returncode != 0
    with pytest.raises(InvalidSshSignature):
        VERIFIER.verify(wrong_app, MESSAGE)
    # Without the user-presence flag ours refuses. (ssh-keygen 9.2's -Y verify does not check
    # the flag, so an auditor replaying with it alone would accept such a signature.)
    signer.flags = 0
    with pytest.raises(InvalidSshSignature, match="user presence"):
        VERIFIER.verify(signer.sign(MESSAGE), MESSAGE)
