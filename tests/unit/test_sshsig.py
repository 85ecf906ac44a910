"""SSHSIG format, key lines, allowed_signers lines, signers and verifier, without OpenSSH.

OpenSSH as the external judge is in tests/integration/test_sshsig_openssh.py;
here the reference is PROTOCOL.sshsig's own example and hand-built bytes.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import shutil
import socket
import struct
import tempfile
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsledger.adapters.ssh_signing import AgentSigner, CryptographyVerifier, FileKeySigner
from opsledger.domain.errors import InvalidInput
from opsledger.domain.sshsig import (
    InvalidSshSignature,
    MalformedSshKey,
    MalformedSshSignature,
    PublicKey,
    SshSignature,
    SshSignatureError,
    SshSigningError,
    UnsupportedSshKey,
    allowed_signers_line,
    armor,
    dearmor,
    fingerprint,
    parse_public_key_line,
    signed_data,
    ssh_string,
)
from sshkeys import KINDS, SoftwareSkSigner, header_only_key_file, write_key_file

# The example of PROTOCOL.sshsig section 1, verbatim: an ed25519 signature in namespace "foo".
SPEC_EXAMPLE = """-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgJKxoLBJBivUPNTUJUSslQTt2hD
jozKvHarKeN8uYFqgAAAADZm9vAAAAAAAAAFMAAAALc3NoLWVkMjU1MTkAAABAKNC4IEbt
Tq0Fb56xhtuE1/lK9H9RZJfON4o6hE9R4ZGFX98gy0+fFJ/1d2/RxnZky0Y7GojwrZkrHT
FgCqVWAQ==
-----END SSH SIGNATURE-----
"""
VERIFIER = CryptographyVerifier()


def test_spec_example_armors_back_byte_for_byte_but_predates_the_hash_field() -> None:
    blob = dearmor(SPEC_EXAMPLE)
    assert armor(blob) == SPEC_EXAMPLE  # 70 columns, as ssh-keygen writes it
    assert blob[:10] == b"SSHSIG\0\0\0\1" and b"\0\0\0\x03foo\0\0\0\0\0\0\0\x53" in blob
    # its hash_algorithm is empty: OpenSSH's sshsig_check_hashalg refuses that, and so do we
    with pytest.raises(MalformedSshSignature, match="hash algorithm"):
        SshSignature.decode(blob)


def test_signed_data_is_the_spec_layout() -> None:
    expected = (
        b"SSHSIG" + b"\0\0\0\x09opsledger" + b"\0\0\0\0" + b"\0\0\0\x06sha512"
        + b"\0\0\0\x40" + hashlib.sha512(b"msg").digest()
    )
    assert signed_data(b"msg") == expected
    assert signed_data(b"msg", "opsledger", "sha256").endswith(b"\0\0\0\x20" + hashlib.sha256(b"msg").digest())
    with pytest.raises(InvalidSshSignature):
        signed_data(b"msg", hash_algorithm="sha1")
    with pytest.raises(InvalidSshSignature):
        signed_data(b"msg", namespace="")


def _blob(**change: bytes) -> bytes:
    fields = {
        "magic": b"SSHSIG", "version": struct.pack(">I", 1),
        "key": ssh_string(ssh_string("ssh-ed25519") + ssh_string(bytes(32))),
        "namespace": ssh_string("opsledger"), "reserved": ssh_string(b""),
        "hash": ssh_string("sha512"), "sig": ssh_string(ssh_string("ssh-ed25519") + ssh_string(bytes(64))),
        "tail": b"",
    }
    fields.update(change)
    return b"".join(fields.values())


def test_blob_round_trip() -> None:
    sig = SshSignature.decode(_blob())
    assert sig.encode() == _blob() and sig.namespace == "opsledger"
    assert SshSignature.decode(_blob(reserved=ssh_string(b"future"))).reserved == b"future"


@pytest.mark.parametrize("change", [
    {"magic": b"SSHSIH"}, {"version": struct.pack(">I", 2)}, {"version": struct.pack(">I", 0)},
    {"tail": b"\0"}, {"namespace": ssh_string(b"")}, {"namespace": ssh_string("ops ledger")},
    {"namespace": ssh_string(b"ops\xffledger")}, {"hash": ssh_string("sha1")},
    {"sig": struct.pack(">I", 1000)}, {"key": ssh_string(b"")}, {"sig": ssh_string(b"\0\0\0\x02")},
    {"tail": b"x" * 30_000},
], ids=lambda c: next(iter(c)))
def test_decode_refuses_every_malformed_field(change: dict[str, bytes]) -> None:
    with pytest.raises(MalformedSshSignature):
        SshSignature.decode(_blob(**change))


def test_armor_wraps_at_70_columns_and_dearmor_is_strict() -> None:
    text = armor(bytes(range(256)))
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN SSH SIGNATURE-----" and lines[-1] == "-----END SSH SIGNATURE-----"
    assert {len(x) for x in lines[1:-2]} == {70} and text.endswith("-----\n")
    assert dearmor(text) == dearmor(text.encode()) == dearmor(text.replace("\n", "\r\n")) == bytes(range(256))
    body = "\n".join(lines[1:-1])
    for bad in [body, "junk\n" + text, text.replace("BEGIN", "BEGAN"), text[:-30],
                text.replace(lines[1], lines[1][:-1] + "!"), text.replace(lines[1], lines[1] + " "),
                "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n", "é" + text,
                text.replace(lines[1], lines[1] * 600), b"\xff" + text.encode(), 42]:
        with pytest.raises(MalformedSshSignature):
            dearmor(bad)  # type: ignore[arg-type]


def test_public_key_line_and_fingerprint(tmp_path: Path) -> None:
    pub = write_key_file(tmp_path / "k", "ed25519").with_name("k.pub").read_text()
    key = parse_public_key_line(pub)
    blob = base64.b64decode(pub.split()[1])
    assert (key.key_type, key.blob, key.comment) == ("ssh-ed25519", blob, "test@opsledger")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    assert key.fingerprint == fingerprint(blob) == "SHA256:" + digest.rstrip("=") and "=" in digest
    assert key.line() == pub.strip() and key.line(comment=False) == " ".join(pub.split()[:2])
    b64 = pub.split()[1]
    for bad in ["", "ssh-ed25519", f"ecdsa-sha2-nistp256 {b64}", "ssh-ed25519 ***",
                "ssh-ed25519 " + base64.b64encode(blob + b"\0").decode(),
                "ssh-ed25519 " + base64.b64encode(blob[:-1]).decode(), f"ssh-ed25519 {b64} a\nb"]:
        with pytest.raises(MalformedSshKey):
            parse_public_key_line(bad)
    dss = base64.b64encode(ssh_string("ssh-dss") + ssh_string(b"p")).decode()
    with pytest.raises(UnsupportedSshKey):
        parse_public_key_line(f"ssh-dss {dss}")


def test_allowed_signers_line_is_openssh_syntax() -> None:
    key = PublicKey("ssh-ed25519", ssh_string("ssh-ed25519") + ssh_string(bytes(32)), "c")
    after = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    before = datetime(2026, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=2)))  # 21:00Z
    line = allowed_signers_line(["bob.risk", "bob@desk"], key, valid_after=after, valid_before=before)
    assert line == (
        'bob.risk,bob@desk namespaces="opsledger",valid-after="20260102030405Z",'
        f'valid-before="20261231210000Z" {key.line(comment=False)}'
    )
    assert allowed_signers_line(["a"], key) == f'a namespaces="opsledger" {key.line(comment=False)}'
    for principals in [[], ["a b"], ["a,b"], ["*"], ['"a"'], ["#a"], ["a!"], [""]]:
        with pytest.raises(InvalidInput):
            allowed_signers_line(principals, key)
    with pytest.raises(InvalidInput):
        allowed_signers_line(["a"], key, valid_after=datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidInput):
        allowed_signers_line(["a"], key, valid_after=after, valid_before=after - timedelta(1))
    for namespaces in [["two words"], ["a,b"], ["*"], ['x"']]:
        with pytest.raises(InvalidInput):
            allowed_signers_line(["a"], key, namespaces=namespaces)


@pytest.mark.parametrize("kind", KINDS)
def test_file_signer_round_trip_in_process(tmp_path: Path, kind: str) -> None:
    signer = FileKeySigner(write_key_file(tmp_path / "id", kind), ssh_keygen=None)
    assert signer.in_process
    pub = parse_public_key_line((tmp_path / "id.pub").read_text())
    assert signer.public_key_line == pub.line(comment=False) and signer.fingerprint == pub.fingerprint
    armored = signer.sign(b"approve CHG-1 v3")
    got = VERIFIER.verify(armored, b"approve CHG-1 v3")
    assert (got.key_type, got.fingerprint, got.public_key) == (pub.key_type, pub.fingerprint, pub.blob)
    with pytest.raises(InvalidSshSignature):
        VERIFIER.verify(armored, b"approve CHG-2 v3")
    with pytest.raises(InvalidSshSignature):
        VERIFIER.verify(armored, b"approve CHG-1 v3", namespace="git")


def test_file_signer_refuses_what_it_cannot_sign_in_process(tmp_path: Path) -> None:
    plain = parse_public_key_line(write_key_file(tmp_path / "k", "ed25519").with_name("k.pub").read_text())
    locked = header_only_key_file(tmp_path / "locked", plain.blob, cipher="aes256-ctr")
    with pytest.raises(SshSigningError, match="passphrase-protected.*ssh-agent"):
        FileKeySigner(locked, ssh_keygen=None)
    with pytest.raises(SshSigningError, match="passphrase-protected"):
        FileKeySigner(locked, ssh_keygen="/nonexistent/ssh-keygen")
    sk = header_only_key_file(tmp_path / "sk", SoftwareSkSigner().blob, cipher="none")
    with pytest.raises(SshSigningError, match="security-key"):
        FileKeySigner(sk, ssh_keygen=None)
    with pytest.raises(SshSigningError, match="cannot read"):
        FileKeySigner(tmp_path / "missing")
    (tmp_path / "pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SshSigningError, match="not an OpenSSH private key"):
        FileKeySigner(tmp_path / "pem")


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_fido_signatures_need_user_presence_and_their_application(kind: str) -> None:
    signer = SoftwareSkSigner(kind)
    got = VERIFIER.verify(signer.sign(b"m"), b"m")
    assert (got.key_type, got.sk_flags, got.sk_counter) == (signer.key_type, 1, 7)
    assert got.fingerprint == signer.fingerprint
    with pytest.raises(InvalidSshSignature):  # a token for another site signed it
        VERIFIER.verify(signer.sign(b"m", signed_app="ssh:other"), b"m")
    signer.flags = 0x04  # user verified (PIN) but not present (no touch)
    untouched = signer.sign(b"m")
    with pytest.raises(InvalidSshSignature, match="user presence"):
        VERIFIER.verify(untouched, b"m")
    assert CryptographyVerifier(require_user_presence=False).verify(untouched, b"m").sk_flags == 4


def test_signature_type_must_match_key_type(tmp_path: Path) -> None:
    ed = FileKeySigner(write_key_file(tmp_path / "ed", "ed25519"))
    ec = FileKeySigner(write_key_file(tmp_path / "ec", "ecdsa-256"))
    a, b = (SshSignature.from_armored(s.sign(b"m")) for s in (ed, ec))
    swapped = SshSignature(a.public_key, a.namespace, b.signature).armor()
    with pytest.raises(InvalidSshSignature, match="ecdsa-sha2-nistp256 signature from a ssh-ed25519"):
        VERIFIER.verify(swapped, b"m")


class FakeAgent:
    """An ssh-agent speaking the protocol over a socket, holding one in-process key."""

    def __init__(self, path: Path, key_file: Path, refuse: bool = False) -> None:
        self.signer, self.refuse = FileKeySigner(key_file), refuse
        self.blob = parse_public_key_line(self.signer.public_key_line).blob
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                body = conn.recv(struct.unpack(">I", conn.recv(4))[0], socket.MSG_WAITALL)
                if body[0] == 11:
                    answer = bytes([12]) + struct.pack(">I", 1) + ssh_string(self.blob) + ssh_string("fake")
                elif self.refuse:
                    answer = bytes([5])
                else:  # data = body after the key string; sign it as the agent would
                    klen = struct.unpack(">I", body[1:5])[0]
                    data = body[9 + klen : 9 + klen + struct.unpack(">I", body[5 + klen : 9 + klen])[0]]
                    from opsledger.adapters.ssh_signing import _sign_in_process

                    answer = bytes([14]) + ssh_string(_sign_in_process(self.signer._key, data))
                conn.sendall(struct.pack(">I", len(answer)) + answer)


def test_agent_protocol_against_a_fake_agent(tmp_path: Path) -> None:
    agent = FakeAgent(tmp_path / "agent.sock", write_key_file(tmp_path / "k", "ed25519"))
    signer = AgentSigner(tmp_path / "agent.sock")
    assert signer.fingerprint == agent.signer.fingerprint
    assert VERIFIER.verify(signer.sign(b"m"), b"m").fingerprint == signer.fingerprint
    with pytest.raises(SshSigningError, match="does not hold the key SHA256:nope"):
        AgentSigner(tmp_path / "agent.sock", fingerprint="SHA256:nope")
    FakeAgent(tmp_path / "refusing.sock", tmp_path / "k", refuse=True)
    with pytest.raises(SshSigningError, match="refused"):
        AgentSigner(tmp_path / "refusing.sock").sign(b"m")
    with pytest.raises(SshSigningError, match="ssh-agent at"):
        AgentSigner(tmp_path / "no-such.sock")


# --- fuzzing: the parser and verifier raise SshSignatureError or nothing ----------------

_FUZZ_KEYS = Path(tempfile.mkdtemp(prefix="sshsig-fuzz-"))
atexit.register(shutil.rmtree, _FUZZ_KEYS, True)
_FUZZ_SIGNERS = {
    "sk-ed25519": SoftwareSkSigner("ed25519"), "sk-ecdsa": SoftwareSkSigner("ecdsa"),
    "ecdsa-384": FileKeySigner(write_key_file(_FUZZ_KEYS / "ec", "ecdsa-384")),
    "rsa": FileKeySigner(write_key_file(_FUZZ_KEYS / "rsa", "rsa")),
}
_FUZZ_BLOBS = {name: dearmor(signer.sign(b"fuzz")) for name, signer in _FUZZ_SIGNERS.items()}
_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400),
                 st.text(max_size=300).map(lambda t: f"-----BEGIN SSH SIGNATURE-----\n{t}\n-----END SSH SIGNATURE-----\n")))
def test_fuzz_random_input_raises_only_the_named_error(text: str | bytes) -> None:
    with pytest.raises(SshSignatureError):
        VERIFIER.verify(text, b"fuzz")


@pytest.mark.parametrize("name", _FUZZ_BLOBS)
@_FUZZ
@given(data=st.data())
def test_fuzz_mutated_signatures_fail_or_mean_the_same(name: str, data: st.DataObject) -> None:
    original = _FUZZ_BLOBS[name]
    blob = bytearray(original)
    for at, xor in data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)),
                                      min_size=1, max_size=4)):
        blob[at] ^= xor
    cut, extra = data.draw(st.integers(0, len(blob))), data.draw(st.binary(max_size=8))
    for candidate in (bytes(blob), bytes(blob[:cut]) + extra, original[:cut] + extra):
        try:
            got = VERIFIER.verify(armor(candidate), b"fuzz")
        except SshSignatureError:
            continue
        ours, theirs = SshSignature.decode(candidate), SshSignature.decode(original)
        # only the ignored `reserved` field may differ in a signature that still verifies
        assert (ours.public_key, ours.namespace, ours.hash_algorithm, ours.signature) == (
            theirs.public_key, theirs.namespace, theirs.hash_algorithm, theirs.signature)
        assert got.fingerprint == _FUZZ_SIGNERS[name].fingerprint


@_FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(
    lambda b: "ssh-ed25519 " + base64.b64encode(b).decode())))
def test_fuzz_public_key_lines_raise_only_the_named_error(line: str) -> None:
    try:
        parse_public_key_line(line)
    except SshSignatureError:
        pass
