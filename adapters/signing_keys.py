"""Ed25519 signing keys for checkpoints: the adapter behind domain.checkpoint.

The private key is a PKCS#8 PEM file readable by its owner only; the public
half is published as a C2SP note verifier key (`name+hash+base64`), which is
all an auditor needs to check a checkpoint or an archive's proofs offline.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from opsledger.domain.checkpoint import (
    Signer,
    ed25519_key_hash,
    format_ed25519_verifier_key,
    parse_ed25519_verifier_key,
)
from opsledger.domain.cosignature import (
    CosignatureVerifier,
    cosigner_key_hash,
    format_cosigner_key,
    parse_cosigner_key,
)

DEFAULT_NAME = "opsledger.local/ledger"


class SigningKeyError(Exception):
    """A key file is missing, unreadable, too open, or not an Ed25519 key."""


class _NamedEd25519Key(Signer):
    """A log's Ed25519 key by name: what a checkpoint's signature line and an
    auditor's verifier key say of it, wherever the private half lives."""

    _name: str
    _public: bytes

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_hash(self) -> int:
        return ed25519_key_hash(self._name, self._public)

    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def verifier_key(self) -> str:
        return format_ed25519_verifier_key(self._name, self._public)


class Ed25519Signer(_NamedEd25519Key):
    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = name
        self._key = private_key
        self._public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


class Ed25519Cosigner(Ed25519Signer):
    """A witness's key: the same Ed25519 arithmetic, identified as a C2SP
    tlog-cosignature key (type 0x04); `domain.cosignature.cosign` builds the
    timestamped message it signs."""

    @property
    def key_hash(self) -> int:
        return cosigner_key_hash(self._name, self._public)

    @property
    def verifier_key(self) -> str:
        return format_cosigner_key(self._name, self._public)


def load_cosigner(path: Path) -> Ed25519Cosigner:
    """A witness's key file (as `create_key(..., witness=True)` writes it)."""
    loaded = load_key(path)
    return Ed25519Cosigner(loaded.name, loaded._key)


class AgentEd25519Signer(_NamedEd25519Key):
    """The log key held by an ssh-agent, which can run under another account
    than the one writing events: that account can ask for checkpoints to be
    signed but cannot take the key away, nor sign anything while the agent is
    gone. The agent's ed25519 signature over the note text is the checkpoint's."""

    def __init__(self, name: str, socket_path: str | Path, fingerprint: str | None = None) -> None:
        from opsledger.adapters.ssh_signing import AgentSigner
        from opsledger.domain.sshsig import SshSigningError

        try:
            self._agent = AgentSigner(socket_path, fingerprint=fingerprint)
        except SshSigningError as e:
            raise SigningKeyError(f"checkpoint key: {e.message}") from None
        blob = self._agent.public_blob
        if not blob.startswith(b"\x00\x00\x00\x0bssh-ed25519"):
            raise SigningKeyError(f"ssh-agent at {socket_path}: the checkpoint key must be ed25519")
        self._name = name
        self._public = blob[-32:]
        format_ed25519_verifier_key(name, self._public)  # a bad name is refused here

    def sign(self, message: bytes) -> bytes:
        from opsledger.domain.sshsig import SshSigningError

        try:
            return self._agent.sign_raw(message)
        except SshSigningError as e:
            raise SigningKeyError(f"checkpoint key: {e.message}") from None


@dataclass(frozen=True)
class Ed25519Verifier:
    name: str
    key_hash: int
    public_key: bytes
    until_tree: int | None = None  # a rotated-out key: the largest tree it may vouch for

    @classmethod
    def from_witness_key(cls, vkey: str) -> CosignatureVerifier:
        """A witness's cosignatures, checked through this raw Ed25519 verifier."""
        try:
            name, key_hash, public = parse_cosigner_key(vkey.strip())
        except Exception as e:  # noqa: BLE001 - any parse failure is a bad key
            raise SigningKeyError(f"not a witness verifier key: {e}") from None
        return CosignatureVerifier(cls(name, key_hash, public))

    @classmethod
    def from_verifier_key(cls, vkey: str) -> Ed25519Verifier:
        try:
            name, key_hash, public = parse_ed25519_verifier_key(vkey.strip())
        except Exception as e:  # noqa: BLE001 - any parse failure is a bad key
            raise SigningKeyError(f"not a verifier key: {e}") from None
        return cls(name, key_hash, public)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def create_key(path: Path, name: str = DEFAULT_NAME, *, witness: bool = False) -> Ed25519Signer:
    """Writes a new private key, owner-only, never replacing an existing one
    (`witness`: a witness's cosigning key, its .pub a type 0x04 verifier key)."""
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Cosigner(name, key) if witness else Ed25519Signer(name, key)
    public = signer.verifier_key  # a bad name is refused here, before anything is written
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kind = "witness cosigning" if witness else "checkpoint signing"
    header = f"# opsledger {kind} key; name={name}\n".encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path}: a key already exists; it is never replaced") from None
    with os.fdopen(fd, "wb") as f:
        f.write(header + pem)
        f.flush()
        os.fsync(f.fileno())
    path.with_suffix(".pub").write_text(public + "\n")
    return signer


def load_key(path: Path) -> Ed25519Signer:
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as e:
        raise SigningKeyError(
            f"{path}: {e.strerror or e} (create one with 'opsledger keys init')"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"{path}: readable by others; chmod 600 it before use")
    name = DEFAULT_NAME
    first = data.split(b"\n", 1)[0]
    if first.startswith(b"# opsledger") and b"name=" in first:
        name = first.split(b"name=", 1)[1].decode().strip()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"{path}: not a PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key")
    return Ed25519Signer(name, key)
