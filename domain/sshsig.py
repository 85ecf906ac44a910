"""OpenSSH signatures (SSHSIG), public key lines and `allowed_signers` lines.

OpenSSH's PROTOCOL.sshsig (FIDO keys: PROTOCOL.u2f), so that `ssh-keygen -Y
verify` is an independent judge of every signature opsledger records. Standard
library only: the cryptography lives in the adapters behind the two ports at the
end (`SshSigner`, `SshSignatureVerifier`). Parsing is strict and bounded: any
malformed input raises an `SshSignatureError`, never another kind of exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import DomainError, InvalidInput

NAMESPACE = "opsledger"
MAGIC = b"SSHSIG"
SIG_VERSION = 1
HASH_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
ARMOR_COLUMNS = 70  # what ssh-keygen writes (PROTOCOL.sshsig says "SHOULD ... 76")
MAX_ARMORED = 32 * 1024  # chars; an RSA-16384 signature is under 6 KiB armored
MAX_BLOB = 20 * 1024  # bytes of a decoded signature or key blob
MAX_NAME = 256  # key types, namespaces, hash names, applications
SK_USER_PRESENT = 0x01  # PROTOCOL.u2f flags: 0x01 user present (touch), 0x04 verified (PIN)

ED25519 = "ssh-ed25519"
SK_ED25519 = "sk-ssh-ed25519@openssh.com"
SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com"
ECDSA_CURVES = {  # key type -> (curve name in the blob, uncompressed point length)
    "ecdsa-sha2-nistp256": ("nistp256", 65),
    "ecdsa-sha2-nistp384": ("nistp384", 97),
    "ecdsa-sha2-nistp521": ("nistp521", 133),
    SK_ECDSA: ("nistp256", 65),
}
RSA = "ssh-rsa"
KEY_TYPES = frozenset({ED25519, SK_ED25519, RSA, *ECDSA_CURVES})


class SshSignatureError(DomainError):
    """An SSH signature or key was refused: malformed, unsupported or not valid."""

    def __init__(self, message: str) -> None:
        super().__init__("ssh signature", message)


class MalformedSshSignature(SshSignatureError):
    """The bytes are not an SSHSIG signature (armor, magic, version, a field)."""


class MalformedSshKey(SshSignatureError):
    """A public key line or key blob is not an OpenSSH public key we accept."""


class UnsupportedSshKey(SshSignatureError):
    """A well-formed key of a type opsledger does not verify (DSA, certificates...)."""


class InvalidSshSignature(SshSignatureError):
    """Well-formed, but not a valid signature of this message in this namespace."""


class SshSigningError(DomainError):
    """A signer could not sign: no key, no agent, no OpenSSH, a refused touch."""

    def __init__(self, message: str) -> None:
        super().__init__("ssh signing", message)


# --- RFC 4251 wire encoding -------------------------------------------------


def ssh_string(value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(data)) + data


def ssh_mpint(value: int) -> bytes:
    """A non-negative mpint, minimal two's complement (RFC 4251 section 5)."""
    if value < 0:
        raise ValueError("negative mpint")
    body = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return ssh_string(body)


class WireReader:
    """Reads RFC 4251 fields from a bounded buffer; every fault is `error(message)`."""

    def __init__(self, data: bytes, error: type[SshSignatureError] = MalformedSshSignature):
        self._data, self._at, self._error = memoryview(data), 0, error

    def take(self, count: int, what: str) -> bytes:
        if count > len(self._data) - self._at:
            raise self._error(f"{what}: truncated")
        out = bytes(self._data[self._at : self._at + count])
        self._at += count
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        return struct.unpack(">I", self.take(4, what))[0]

    def string(self, what: str) -> bytes:
        return self.take(self.u32(what), what)

    def name(self, what: str) -> str:
        """A short printable-ASCII string (a key type, namespace, hash or curve name)."""
        raw = self.string(what)
        if not raw or len(raw) > MAX_NAME or not all(0x21 <= b < 0x7F for b in raw):
            raise self._error(f"{what}: not a short printable name")
        return raw.decode("ascii")

    def mpint(self, what: str) -> int:
        raw = self.string(what)
        if raw and (raw[0] & 0x80 or (raw[0] == 0 and (len(raw) == 1 or not raw[1] & 0x80))):
            raise self._error(f"{what}: negative or non-minimal mpint")
        return int.from_bytes(raw, "big")

    def end(self, what: str) -> None:
        if self._at != len(self._data):
            raise self._error(f"{what}: {len(self._data) - self._at} trailing bytes")


# --- public keys --------------------------------------------------------------


@dataclass(frozen=True)
class KeyParts:
    """A key blob split into its fields (PROTOCOL.key, RFC 5656, PROTOCOL.u2f)."""

    key_type: str
    public: bytes  # ed25519: 32 bytes; ecdsa: the uncompressed point; rsa: n
    rsa_e: int = 0
    application: str = ""  # sk keys only, e.g. "ssh:"


def key_parts(blob: bytes) -> KeyParts:
    """Parse a public key blob strictly; an unknown type is `UnsupportedSshKey`."""
    if len(blob) > MAX_BLOB:
        raise MalformedSshKey("key blob too large")
    r = WireReader(blob, MalformedSshKey)
    key_type = r.name("key type")
    if key_type not in KEY_TYPES:
        raise UnsupportedSshKey(f"key type {key_type!r} is not supported")
    e = 0
    if key_type in (ED25519, SK_ED25519):
        public = r.string("ed25519 key")
        if len(public) != 32:
            raise MalformedSshKey("an ed25519 key is 32 bytes")
    elif key_type == RSA:
        e, n = r.mpint("rsa e"), r.mpint("rsa n")
        if n.bit_length() < 2048 or not e & 1:
            raise MalformedSshKey("rsa key under 2048 bits or even exponent")
        public = n.to_bytes((n.bit_length() + 7) // 8, "big")
    else:
        curve, size = ECDSA_CURVES[key_type]
        if r.name("curve") != curve:
            raise MalformedSshKey(f"{key_type} names another curve")
        public = r.string("ecdsa point")
        if len(public) != size or public[0] != 4:
            raise MalformedSshKey("ecdsa point is not an uncompressed point of its curve")
    application = r.name("application") if key_type.startswith("sk-") else ""
    r.end("key blob")
    return KeyParts(key_type, public, e, application)


def fingerprint(blob: bytes) -> str:
    """`SHA256:...` as `ssh-keygen -lf` prints it: unpadded base64 of SHA-256(blob)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    blob: bytes
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    def line(self, comment: bool = True) -> str:
        """`ssh-ed25519 AAAA... comment`, the form of a `.pub` file."""
        text = f"{self.key_type} {base64.b64encode(self.blob).decode()}"
        return f"{text} {self.comment}" if comment and self.comment else text


def parse_public_key_line(line: str) -> PublicKey:
    """`TYPE BASE64 [COMMENT]` (a `.pub` file's line) -> PublicKey, checked field by field."""
    if not isinstance(line, str) or len(line) > MAX_BLOB * 2:
        raise MalformedSshKey("a public key line is a short string")
    fields = line.strip().split(None, 2)
    if len(fields) < 2:
        raise MalformedSshKey("a public key line is 'TYPE BASE64 [COMMENT]'")
    try:
        blob = base64.b64decode(fields[1].encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        raise MalformedSshKey("the key is not base64") from None
    parts = key_parts(blob)
    if parts.key_type != fields[0]:
        raise MalformedSshKey(f"line says {fields[0]!r}, key blob is {parts.key_type!r}")
    comment = fields[2].strip() if len(fields) > 2 else ""
    if "\n" in comment or "\r" in comment:
        raise MalformedSshKey("a public key line is one line")
    return PublicKey(parts.key_type, blob, comment)


# --- the signature ------------------------------------------------------------


def signed_data(message: bytes, namespace: str = NAMESPACE, hash_algorithm: str = "sha512") -> bytes:
    """The bytes handed to the key's signing function (PROTOCOL.sshsig section 3)."""
    _check_namespace(namespace, InvalidSshSignature)
    if hash_algorithm not in HASH_ALGORITHMS:
        raise InvalidSshSignature(f"hash algorithm {hash_algorithm!r} is not sha256 or sha512")
    digest = HASH_ALGORITHMS[hash_algorithm](message).digest()
    fields = (namespace.encode(), b"", hash_algorithm.encode(), digest)  # reserved is empty
    return MAGIC + b"".join(ssh_string(f) for f in fields)


def sk_signed_data(application: str, flags: int, counter: int, data: bytes) -> bytes:
    """What a FIDO key signs (PROTOCOL.u2f): SHA256(app) || flags || counter || SHA256(data)."""
    app_hash, data_hash = hashlib.sha256(application.encode()).digest(), hashlib.sha256(data).digest()
    return app_hash + struct.pack(">BI", flags, counter) + data_hash


_NAME = re.compile(rf"[\x21-\x7e]{{1,{MAX_NAME}}}")


def _check_namespace(namespace: str, error: type[SshSignatureError]) -> None:
    if not isinstance(namespace, str) or not _NAME.fullmatch(namespace):
        raise error("the namespace must be a non-empty printable ASCII name")


@dataclass(frozen=True)
class SshSignature:
    """An SSHSIG blob (PROTOCOL.sshsig section 2); `signature` is the key's own SSH signature blob."""

    public_key: bytes
    namespace: str
    signature: bytes
    hash_algorithm: str = "sha512"
    reserved: bytes = b""

    @property
    def key_type(self) -> str:
        return key_parts(self.public_key).key_type

    def encode(self) -> bytes:
        fields = (self.public_key, self.namespace, self.reserved, self.hash_algorithm, self.signature)
        return MAGIC + struct.pack(">I", SIG_VERSION) + b"".join(ssh_string(f) for f in fields)

    @classmethod
    def decode(cls, blob: bytes) -> SshSignature:
        if len(blob) > MAX_BLOB:
            raise MalformedSshSignature("signature blob too large")
        r = WireReader(blob)
        if r.take(len(MAGIC), "magic") != MAGIC:
            raise MalformedSshSignature("not an SSHSIG blob (magic)")
        version = r.u32("version")
        if version != SIG_VERSION:
            raise MalformedSshSignature(f"SSHSIG version {version} is not supported")
        public_key = r.string("public key")
        namespace = r.name("namespace")
        reserved = r.string("reserved")
        hash_algorithm = r.name("hash algorithm")
        signature = r.string("signature")
        r.end("SSHSIG blob")
        if hash_algorithm not in HASH_ALGORITHMS:
            raise MalformedSshSignature(f"hash algorithm {hash_algorithm!r} is not sha256 or sha512")
        WireReader(public_key).name("public key type")
        WireReader(signature).name("signature type")
        return cls(public_key, namespace, signature, hash_algorithm, reserved)

    def armor(self) -> str:
        return armor(self.encode())

    @classmethod
    def from_armored(cls, text: str | bytes) -> SshSignature:
        return cls.decode(dearmor(text))


def armor(blob: bytes) -> str:
    """The armored form exactly as `ssh-keygen -Y sign` writes it, final newline included."""
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i : i + ARMOR_COLUMNS] for i in range(0, len(b64), ARMOR_COLUMNS)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


_B64_LINE = re.compile(r"[A-Za-z0-9+/=]+")  # ssh-keygen reads any line length


def dearmor(text: str | bytes) -> bytes:
    """The blob of an armored signature: header first, footer last, base64 lines between."""
    if isinstance(text, bytes | bytearray):  # non-ASCII bytes become U+FFFD, refused below
        text = bytes(text[: MAX_ARMORED + 1]).decode("ascii", "replace")
    if not isinstance(text, str) or len(text) > MAX_ARMORED:
        raise MalformedSshSignature("armored signature too large or not text")
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise MalformedSshSignature(f"not framed by {BEGIN!r} and {END!r}")
    body = lines[1:-1]
    if not all(_B64_LINE.fullmatch(line) for line in body):
        raise MalformedSshSignature("armored body is not base64 lines")
    try:
        return base64.b64decode("".join(body), validate=True)
    except (ValueError, binascii.Error):
        raise MalformedSshSignature("armored body is not valid base64") from None


# --- allowed_signers ----------------------------------------------------------

_PRINCIPAL = re.compile(r"[A-Za-z0-9_.@+=:/-][A-Za-z0-9_.@+=:/#-]*")


def ssh_timestamp(moment: datetime) -> str:
    """`YYYYMMDDHHMMSSZ` in UTC, as ssh-keygen's valid-after/valid-before/verify-time read it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("allowed_signers", "a time needs a timezone (naive datetimes are ambiguous)")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def allowed_signers_line(
    principals: Iterable[str],
    key: PublicKey,
    *,
    namespaces: Iterable[str] = (NAMESPACE,),
    valid_after: datetime | None = None,
    valid_before: datetime | None = None,
) -> str:
    """One line of an OpenSSH allowed_signers file (ssh-keygen(1) ALLOWED SIGNERS).

    Principals and namespaces are literal names, not patterns: a name with
    whitespace, a quote, a comma or a wildcard (`*?!`) is refused, not escaped.
    """
    names = list(principals)
    if not names or not all(isinstance(p, str) and _PRINCIPAL.fullmatch(p) for p in names):
        raise InvalidInput("allowed_signers", f"principals must be plain names (no spaces, quotes, commas, wildcards): {names!r}")
    spaces = list(namespaces)
    if not all(isinstance(ns, str) and _PRINCIPAL.fullmatch(ns) for ns in spaces):
        raise InvalidInput("allowed_signers", f"namespaces must be plain names: {spaces!r}")
    if valid_after and valid_before and valid_before < valid_after:
        raise InvalidInput("allowed_signers", "valid-before precedes valid-after")
    options = [f'namespaces="{",".join(spaces)}"'] if spaces else []
    if valid_after is not None:
        options.append(f'valid-after="{ssh_timestamp(valid_after)}"')
    if valid_before is not None:
        options.append(f'valid-before="{ssh_timestamp(valid_before)}"')
    fields = [",".join(names), ",".join(options), key.line(comment=False)]
    return " ".join(f for f in fields if f)


# --- ports --------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedSignature:
    """What a valid signature proves: which key signed (the roster maps it to a person)."""

    key_type: str
    fingerprint: str
    public_key: bytes
    hash_algorithm: str = "sha512"
    sk_flags: int | None = None  # FIDO keys: the authenticator's flags and counter
    sk_counter: int | None = None


class SshSigner(ABC):
    """Signs opsledger records with one person's SSH key."""

    @property
    @abstractmethod
    def public_key_line(self) -> str:
        """The signer's `TYPE BASE64 [COMMENT]` line."""

    @property
    def fingerprint(self) -> str:
        return parse_public_key_line(self.public_key_line).fingerprint

    @abstractmethod
    def sign(self, message: bytes, namespace: str = NAMESPACE) -> str:
        """The armored SSHSIG signature of `message` (raises SshSigningError)."""


class SshSignatureVerifier(ABC):
    """Checks that an armored signature is a valid SSHSIG over `message` in `namespace`."""

    @abstractmethod
    def verify(self, armored: str | bytes, message: bytes, namespace: str = NAMESPACE) -> VerifiedSignature:
        """The signing key, or SshSignatureError; which key is *allowed* is the roster's call."""
