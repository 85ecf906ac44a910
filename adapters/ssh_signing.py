"""SSH signatures made and checked with real keys: the adapters behind domain.sshsig.

- `FileKeySigner`: an OpenSSH private key file, as `ssh -i` takes it. Plain
  ed25519, ecdsa (nistp256/384/521) and rsa keys sign in-process with
  `cryptography`; a passphrase-protected file or a FIDO `sk-` key file (the
  private half is on the token) is signed by OpenSSH itself,
  `ssh-keygen -Y sign`, which asks for the passphrase or the touch.
- `AgentSigner`: any key an ssh-agent holds, over its socket, with the agent
  protocol (draft-miller-ssh-agent).
- `CryptographyVerifier`: ed25519, ecdsa, FIDO sk-ed25519/sk-ecdsa (PROTOCOL.u2f,
  user presence required) and rsa-sha2-256/512 SSHSIG signatures.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from opsledger.domain.sshsig import (
    ECDSA_CURVES,
    ED25519,
    NAMESPACE,
    RSA,
    SK_ECDSA,
    SK_ED25519,
    SK_USER_PRESENT,
    InvalidSshSignature,
    KeyParts,
    MalformedSshKey,
    MalformedSshSignature,
    PublicKey,
    SshSignature,
    SshSignatureError,
    SshSignatureVerifier,
    SshSigner,
    SshSigningError,
    VerifiedSignature,
    WireReader,
    fingerprint,
    key_parts,
    signed_data,
    sk_signed_data,
    ssh_mpint,
    ssh_string,
)

_CURVES: dict[str, tuple[ec.EllipticCurve, hashes.HashAlgorithm]] = {
    "nistp256": (ec.SECP256R1(), hashes.SHA256()),
    "nistp384": (ec.SECP384R1(), hashes.SHA384()),
    "nistp521": (ec.SECP521R1(), hashes.SHA512()),
}
_CURVE_NAMES = {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}
_RSA_HASHES = {"rsa-sha2-256": hashes.SHA256(), "rsa-sha2-512": hashes.SHA512()}
MAX_KEY_FILE = 64 * 1024
OPENSSH_KEY_MAGIC = b"openssh-key-v1\x00"


# --- key files ----------------------------------------------------------------


def read_private_key_header(data: bytes) -> tuple[str, PublicKey]:
    """(cipher name, public key) of an `OPENSSH PRIVATE KEY` file: both are stored in clear."""
    lines = data.decode("ascii", "replace").strip().splitlines()
    if len(lines) < 3 or lines[0] != "-----BEGIN OPENSSH PRIVATE KEY-----" or lines[-1] != "-----END OPENSSH PRIVATE KEY-----":
        raise SshSigningError("not an OpenSSH private key file (ssh-keygen writes them)")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (ValueError, binascii.Error):
        raise SshSigningError("the private key file's body is not base64") from None
    try:
        r = WireReader(blob, MalformedSshKey)
        if r.take(len(OPENSSH_KEY_MAGIC), "magic") != OPENSSH_KEY_MAGIC:
            raise MalformedSshKey("not openssh-key-v1")
        cipher = r.name("cipher")
        r.string("kdf"), r.string("kdf options")
        if r.u32("key count") != 1:
            raise MalformedSshKey("a key file with several keys")
        public = r.string("public key")
        return cipher, PublicKey(key_parts(public).key_type, public)
    except SshSignatureError as e:
        raise SshSigningError(f"private key file: {e.message}") from None


def _sign_in_process(key: object, data: bytes) -> bytes:
    """The SSH signature blob of `data` by a loaded private key."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ssh_string(ED25519) + ssh_string(key.sign(data))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = _CURVE_NAMES[key.curve.name]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_CURVES[curve][1])))
        return ssh_string(f"ecdsa-sha2-{curve}") + ssh_string(ssh_mpint(r) + ssh_mpint(s))
    if isinstance(key, rsa.RSAPrivateKey):
        return ssh_string("rsa-sha2-512") + ssh_string(key.sign(data, padding.PKCS1v15(), hashes.SHA512()))
    raise SshSigningError(f"cannot sign with a {type(key).__name__}")


class FileKeySigner(SshSigner):
    """Signs with an OpenSSH private key file (`ssh -i FILE`).

    `ssh_keygen` is the OpenSSH program used for files that cannot be signed
    in-process (None: refuse them); `env` is its environment (None: inherit,
    e.g. SSH_ASKPASS for a passphrase without a terminal). Its prompts go to the
    terminal; it gets `timeout` seconds (a touch, a passphrase).
    """

    def __init__(self, path: str | Path, *, ssh_keygen: str | None = "ssh-keygen",
                 env: Mapping[str, str] | None = None, timeout: float = 120.0) -> None:
        self.path = Path(path)
        try:
            if self.path.stat().st_size > MAX_KEY_FILE:
                raise SshSigningError(f"{self.path}: too large for a private key file")
            data = self.path.read_bytes()
        except OSError as e:
            raise SshSigningError(f"cannot read the key file {self.path}: {e.strerror}") from None
        cipher, self._public = read_private_key_header(data)
        self._key: object | None = None
        self._env, self._timeout = env, timeout
        self._program = shutil.which(ssh_keygen) if ssh_keygen else None
        if cipher == "none" and not self._public.key_type.startswith("sk-"):
            try:
                self._key = serialization.load_ssh_private_key(data, password=None)
            except (ValueError, TypeError, UnsupportedAlgorithm) as e:
                raise SshSigningError(f"{self.path}: unreadable private key ({e})") from None
            return
        why = "passphrase-protected" if cipher != "none" else "a security-key (sk) key, on its token"
        if self._program is None:
            raise SshSigningError(
                f"{self.path} is {why}: signing it needs OpenSSH's ssh-keygen, which is not "
                "installed; load the key into ssh-agent (ssh-add) and sign through the agent"
            )

    @property
    def public_key_line(self) -> str:
        return self._public.line()

    @property
    def in_process(self) -> bool:
        return self._key is not None

    def sign(self, message: bytes, namespace: str = NAMESPACE) -> str:
        if self._key is None:
            return self._sign_with_ssh_keygen(message, namespace)
        data = signed_data(message, namespace)
        return SshSignature(self._public.blob, namespace, _sign_in_process(self._key, data)).armor()

    def _sign_with_ssh_keygen(self, message: bytes, namespace: str) -> str:
        signed_data(message, namespace)  # refuse a bad namespace before prompting
        assert self._program is not None
        with tempfile.TemporaryDirectory(prefix="opsledger-sshsig-") as tmp:
            msg = Path(tmp) / "message"
            msg.write_bytes(message)
            cmd = [self._program, "-q", "-Y", "sign", "-n", namespace, "-f", str(self.path), str(msg)]
            try:  # stdin and stderr stay the terminal's: the passphrase prompt, the touch notice
                done = subprocess.run(cmd, env=self._env, timeout=self._timeout, check=False)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise SshSigningError(f"ssh-keygen -Y sign -f {self.path}: {e}") from None
            sig_file = msg.with_name("message.sig")
            if done.returncode != 0 or not sig_file.exists():
                raise SshSigningError(
                    f"ssh-keygen -Y sign -f {self.path} failed (exit {done.returncode}): "
                    "wrong passphrase, no token or no touch?"
                )
            armored = sig_file.read_text("ascii", "replace")
        try:
            sig = SshSignature.from_armored(armored)
        except SshSignatureError as e:
            raise SshSigningError(f"ssh-keygen wrote an unreadable signature: {e.message}") from None
        if sig.public_key != self._public.blob or sig.namespace != namespace:
            raise SshSigningError("ssh-keygen signed with another key or namespace than asked")
        return armored


# --- ssh-agent ----------------------------------------------------------------

AGENT_FAILURE, AGENTC_REQUEST_IDENTITIES, AGENT_IDENTITIES_ANSWER = 5, 11, 12
AGENTC_SIGN_REQUEST, AGENT_SIGN_RESPONSE = 13, 14
AGENT_RSA_SHA2_512 = 0x04
MAX_AGENT_MESSAGE = 256 * 1024


class AgentSigner(SshSigner):
    """Signs through ssh-agent at `socket_path` (the caller reads SSH_AUTH_SOCK).

    The identity is the one with `fingerprint` (`SHA256:...`), else the agent's
    first supported one. `timeout` covers a security key waiting for a touch.
    """

    def __init__(self, socket_path: str | Path, *, fingerprint: str | None = None,
                 timeout: float = 60.0) -> None:
        self.socket_path = str(socket_path)
        self._timeout = timeout
        keys = self.identities()
        chosen = [k for k in keys if fingerprint in (None, k.fingerprint)]
        if not chosen:
            held = ", ".join(k.fingerprint for k in keys) or "none"
            wanted = f"the key {fingerprint}" if fingerprint else "a supported key"
            raise SshSigningError(f"ssh-agent at {self.socket_path} does not hold {wanted} (holds: {held})")
        self._public = chosen[0]

    @property
    def public_key_line(self) -> str:
        return self._public.line()

    def identities(self) -> list[PublicKey]:
        """The agent's keys of the types opsledger verifies (certificates and DSA skipped)."""
        r = self._request(bytes([AGENTC_REQUEST_IDENTITIES]), AGENT_IDENTITIES_ANSWER)
        keys = []
        try:
            for _ in range(r.u32("identity count")):
                blob, comment = r.string("key"), r.string("comment")
                try:
                    keys.append(PublicKey(key_parts(blob).key_type, blob, comment.decode("utf-8", "replace")))
                except SshSignatureError:
                    continue
            r.end("identities answer")
        except SshSignatureError as e:
            raise SshSigningError(f"ssh-agent answered garbage: {e.message}") from None
        return keys

    def sign(self, message: bytes, namespace: str = NAMESPACE) -> str:
        data = signed_data(message, namespace)
        key_type = self._public.key_type
        flags = AGENT_RSA_SHA2_512 if key_type == RSA else 0
        request = bytes([AGENTC_SIGN_REQUEST]) + ssh_string(self._public.blob) + ssh_string(data)
        r = self._request(request + struct.pack(">I", flags), AGENT_SIGN_RESPONSE)
        try:
            signature = r.string("signature")
            r.end("sign response")
            sig_type = WireReader(signature).name("signature type")
        except SshSignatureError as e:
            raise SshSigningError(f"ssh-agent answered garbage: {e.message}") from None
        if sig_type != ("rsa-sha2-512" if key_type == RSA else key_type):
            raise SshSigningError(f"ssh-agent signed with {sig_type}, not {key_type}")
        return SshSignature(self._public.blob, namespace, signature).armor()

    def sign_raw(self, data: bytes) -> bytes:
        """The agent's ed25519 signature over `data` itself (no SSHSIG wrapping):
        what a C2SP checkpoint needs from a log key the agent holds."""
        if self._public.key_type != "ssh-ed25519":
            raise SshSigningError(f"a checkpoint key is ed25519, not {self._public.key_type}")
        request = bytes([AGENTC_SIGN_REQUEST]) + ssh_string(self._public.blob) + ssh_string(data)
        r = self._request(request + struct.pack(">I", 0), AGENT_SIGN_RESPONSE)
        try:
            inner = WireReader(r.string("signature"))
            r.end("sign response")
            if inner.name("signature type") != "ssh-ed25519":
                raise SshSigningError("ssh-agent did not sign with ed25519")
            raw = inner.string("ed25519 signature")
            inner.end("signature")
        except SshSignatureError as e:
            raise SshSigningError(f"ssh-agent answered garbage: {e.message}") from None
        return raw

    @property
    def public_blob(self) -> bytes:
        return self._public.blob

    def _request(self, body: bytes, expect: int) -> WireReader:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self._timeout)
                sock.connect(self.socket_path)
                sock.sendall(struct.pack(">I", len(body)) + body)
                length = struct.unpack(">I", _recv_exactly(sock, 4))[0]
                if not 0 < length <= MAX_AGENT_MESSAGE:
                    raise SshSigningError(f"ssh-agent sent a {length}-byte message")
                answer = _recv_exactly(sock, length)
        except OSError as e:
            raise SshSigningError(f"ssh-agent at {self.socket_path}: {e.strerror or e}") from None
        if answer[0] != expect:
            what = "refused" if answer[0] == AGENT_FAILURE else f"answered type {answer[0]}"
            raise SshSigningError(f"ssh-agent {what} (key not held, locked, or touch refused)")
        return WireReader(answer[1:])


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, got = [], 0
    while got < count:
        chunk = sock.recv(min(count - got, 65536))
        if not chunk:
            raise SshSigningError("ssh-agent closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- verification -------------------------------------------------------------


class CryptographyVerifier(SshSignatureVerifier):
    """Verifies SSHSIG signatures in-process; any failure is an SshSignatureError.

    `require_user_presence=False` is allowed_signers' `no-touch-required`: a FIDO
    signature made without a touch is then accepted too.
    """

    def __init__(self, *, require_user_presence: bool = True) -> None:
        self.require_user_presence = require_user_presence

    def verify(self, armored: str | bytes, message: bytes, namespace: str = NAMESPACE) -> VerifiedSignature:
        sig = SshSignature.from_armored(armored)
        if sig.namespace != namespace:
            raise InvalidSshSignature(f"signed in namespace {sig.namespace!r}, not {namespace!r}")
        parts = key_parts(sig.public_key)
        data = signed_data(message, namespace, sig.hash_algorithm)
        r = WireReader(sig.signature)
        sig_type = r.name("signature type")
        expected = set(_RSA_HASHES) if parts.key_type == RSA else {parts.key_type}
        if sig_type not in expected:
            raise InvalidSshSignature(f"a {sig_type} signature from a {parts.key_type} key")
        flags = counter = None
        try:
            if parts.key_type == RSA:
                self._rsa(parts, sig_type, r, data)
            elif parts.key_type in (ED25519, SK_ED25519):
                raw = r.string("ed25519 signature")
                if len(raw) != 64:
                    raise MalformedSshSignature("an ed25519 signature is 64 bytes")
                if parts.key_type == SK_ED25519:
                    flags, counter, data = self._sk(parts, r, data)
                r.end("signature")
                ed25519.Ed25519PublicKey.from_public_bytes(parts.public).verify(raw, data)
            else:
                ecdsa_sig = self._ecdsa_signature(r.string("ecdsa signature"))
                curve, hash_alg = _CURVES[ECDSA_CURVES[parts.key_type][0]]
                if parts.key_type == SK_ECDSA:
                    flags, counter, data = self._sk(parts, r, data)
                r.end("signature")
                point = ec.EllipticCurvePublicKey.from_encoded_point(curve, parts.public)
                point.verify(ecdsa_sig, data, ec.ECDSA(hash_alg))
        except (InvalidSignature, ValueError, TypeError, OverflowError, UnsupportedAlgorithm):
            raise InvalidSshSignature(f"the {sig_type} signature does not verify") from None
        return VerifiedSignature(parts.key_type, fingerprint(sig.public_key), sig.public_key,
                                 sig.hash_algorithm, flags, counter)

    def _sk(self, parts: KeyParts, r: WireReader, data: bytes) -> tuple[int, int, bytes]:
        """(flags, counter, the bytes the authenticator signed) of a FIDO signature."""
        flags, counter = r.u8("sk flags"), r.u32("sk counter")
        if self.require_user_presence and not flags & SK_USER_PRESENT:
            raise InvalidSshSignature("the security key signed without user presence (no touch)")
        return flags, counter, sk_signed_data(parts.application, flags, counter, data)

    @staticmethod
    def _ecdsa_signature(inner: bytes) -> bytes:
        r = WireReader(inner)
        rr, ss = r.mpint("ecdsa r"), r.mpint("ecdsa s")
        r.end("ecdsa signature")
        if not (0 < rr < 1 << 528 and 0 < ss < 1 << 528):
            raise InvalidSshSignature("ecdsa r or s out of range")
        return encode_dss_signature(rr, ss)

    @staticmethod
    def _rsa(parts: KeyParts, sig_type: str, r: WireReader, data: bytes) -> None:
        raw = r.string("rsa signature")
        r.end("signature")
        n = int.from_bytes(parts.public, "big")
        if len(raw) > len(parts.public):
            raise InvalidSshSignature("rsa signature longer than the modulus")
        public = rsa.RSAPublicNumbers(parts.rsa_e, n).public_key()
        public.verify(raw.rjust(len(parts.public), b"\0"), data, padding.PKCS1v15(), _RSA_HASHES[sig_type])


def create_ed25519_key(path: Path, comment: str = "") -> FileKeySigner:
    """A new ed25519 key pair as `ssh-keygen -t ed25519 -N ''` writes it: the
    private key (mode 600) at `path`, its public line at `path.pub`. An
    existing key is kept, never replaced."""
    if not path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
        path.with_name(path.name + ".pub").write_bytes(
            public + (f" {comment}".encode() if comment else b"") + b"\n")
    return FileKeySigner(path)


def openssh_verify(allowed_signers: Path, principal: str, signature: Path, message: Path,
                   namespace: str = NAMESPACE) -> tuple[list[str], bool | None]:
    """Runs OpenSSH's own `ssh-keygen -Y verify` as an independent judge:
    (the command, True/False), or (the command, None) where OpenSSH is absent."""
    command = ["ssh-keygen", "-Y", "verify", "-f", str(allowed_signers), "-I", principal,
               "-n", namespace, "-s", str(signature)]
    program = shutil.which("ssh-keygen")
    if program is None:
        return command, None
    with message.open("rb") as stdin:
        done = subprocess.run([program, *command[1:]], stdin=stdin, capture_output=True,
                              timeout=60, check=False)
    return command, done.returncode == 0
