"""Test helpers for SSH signatures: key files, a software FIDO (sk) signer, OpenSSH."""

from __future__ import annotations

import base64
import os
import shutil
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from opsledger.domain.sshsig import (
    NAMESPACE,
    SK_ECDSA,
    SK_ED25519,
    SK_USER_PRESENT,
    PublicKey,
    SshSignature,
    SshSigner,
    signed_data,
    sk_signed_data,
    ssh_mpint,
    ssh_string,
)

KINDS = ("ed25519", "ecdsa-256", "ecdsa-384", "ecdsa-521", "rsa")


def require_openssh() -> str:
    """The ssh-keygen path; a skip without OpenSSH, a failure under CI=true."""
    found = shutil.which("ssh-keygen")
    if found and shutil.which("ssh-agent") and shutil.which("ssh-add"):
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("OpenSSH (ssh-keygen, ssh-agent, ssh-add) is required under CI=true")
    pytest.skip("OpenSSH is not installed")


def private_key(kind: str):
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.startswith("ecdsa-"):
        curve = {"256": ec.SECP256R1, "384": ec.SECP384R1, "521": ec.SECP521R1}[kind[6:]]
        return ec.generate_private_key(curve())
    return rsa.generate_private_key(65537, 3072)


def write_key_file(path: Path, kind: str, passphrase: bytes | None = None) -> Path:
    """An OpenSSH private key file written by `cryptography` (no OpenSSH needed)."""
    key = private_key(kind)
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path.with_name(path.name + ".pub").write_bytes(public + b" test@opsledger\n")
    return path


def header_only_key_file(path: Path, public_blob: bytes, cipher: str = "aes256-ctr") -> Path:
    """An openssh-key-v1 file with a real header (cipher, public key) and an opaque private part:
    what a passphrase-protected or sk key file looks like before it is unlocked."""
    body = (b"openssh-key-v1\0" + ssh_string(cipher) + ssh_string("bcrypt" if cipher != "none" else "none")
            + ssh_string(b"") + struct.pack(">I", 1) + ssh_string(public_blob) + ssh_string(bytes(64)))
    b64 = base64.b64encode(body).decode()
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    path.write_text("\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----"]) + "\n")
    return path


class SoftwareSkSigner(SshSigner):
    """A FIDO key in software: what a token would sign (PROTOCOL.u2f), with chosen flags."""

    def __init__(self, kind: str = "ed25519", application: str = "ssh:",
                 flags: int = SK_USER_PRESENT, counter: int = 7) -> None:
        self.kind, self.application, self.flags, self.counter = kind, application, flags, counter
        if kind == "ed25519":
            self.key = ed25519.Ed25519PrivateKey.generate()
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.key_type, body = SK_ED25519, ssh_string(raw)
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            point = self.key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            self.key_type, body = SK_ECDSA, ssh_string("nistp256") + ssh_string(point)
        self.blob = ssh_string(self.key_type) + body + ssh_string(application)

    @property
    def public_key_line(self) -> str:
        return PublicKey(self.key_type, self.blob).line()

    def sign(self, message: bytes, namespace: str = NAMESPACE, *, signed_app: str | None = None) -> str:
        u2f = sk_signed_data(signed_app or self.application, self.flags, self.counter,
                             signed_data(message, namespace))
        if self.kind == "ed25519":
            inner = ssh_string(self.key.sign(u2f))
        else:
            r, s = decode_dss_signature(self.key.sign(u2f, ec.ECDSA(hashes.SHA256())))
            inner = ssh_string(ssh_mpint(r) + ssh_mpint(s))
        signature = ssh_string(self.key_type) + inner + struct.pack(">BI", self.flags, self.counter)
        return SshSignature(self.blob, namespace, signature).armor()
