"""Signed tree heads as C2SP ``tlog-checkpoint`` signed notes.

A checkpoint is a note text of three or more non-empty lines, each ending in
a newline: the origin (the log's name), the tree size in decimal without
leading zeros, the base64 (RFC 4648, padded) RFC 9162 root hash, then
optional extension lines. A signed note (C2SP ``signed-note``, Go's
``golang.org/x/mod/sumdb/note``) appends a blank line and one line per
signature::

    opsledger.example/audit
    1234
    <base64 root hash>

    — opsledger.example/audit <base64(u32 key hash || signature)>

The line starts with an em dash (U+2014) and a space; the signature covers
the note text including its final newline. For Ed25519 (signature type 0x01)
the key hash is the first four bytes, big-endian, of
SHA-256(name || 0x0A || 0x01 || 32-byte public key).

This module formats and parses; the cryptography lives behind `Signer` and
`SignatureVerifier`, implemented outside the domain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from opsledger.domain.errors import DomainError, InvalidInput

EM_DASH = "\u2014"
ED25519 = 0x01
MAX_SIGNATURES = 100
MAX_TREE_SIZE = 2**63 - 1  # Go's tlog and note tools read sizes as int64
_SIG_PREFIX = EM_DASH + " "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class CheckpointError(DomainError):
    """Base of the checkpoint and signed-note errors."""


class MalformedNoteError(CheckpointError, InvalidInput):
    """The text is not a well-formed checkpoint or signed note."""


class InvalidSignatureError(CheckpointError):
    """A signature by a trusted key does not verify: the note is forged or altered."""


class UnverifiedNoteError(CheckpointError):
    """No signature on the note is by a trusted key."""


class RetiredKeyError(CheckpointError):
    """Signed only by keys rotated out before the tree grew to this size."""


class UnexpectedOriginError(CheckpointError):
    """The checkpoint is for another log than the one expected."""


class Signer(ABC):
    """Signs note texts with one key; the implementation holds the key."""

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def key_hash(self) -> int: ...

    @abstractmethod
    def sign(self, message: bytes) -> bytes: ...


class SignatureVerifier(Protocol):
    """Checks signatures by one trusted key, identified by ``(name, key_hash)``."""

    @property
    def name(self) -> str: ...

    @property
    def key_hash(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


def valid_until_tree(verifier: SignatureVerifier) -> int | None:
    """The largest tree a key may vouch for: a key rotated out at size N signed
    no honest checkpoint of a larger tree, so one it signed later is a forgery
    (its holder may be a former insider). None: no bound. A verifier states it
    as an ``until_tree`` attribute."""
    bound = getattr(verifier, "until_tree", None)
    return bound if isinstance(bound, int) else None


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or _bad_line(self.origin):
            raise MalformedNoteError("checkpoint", "origin must be one non-empty line")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise MalformedNoteError("checkpoint", "size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedNoteError("checkpoint", f"size {self.size} is out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise MalformedNoteError("checkpoint", "root hash must be 32 bytes")
        if not isinstance(self.extensions, tuple) or any(
            not isinstance(e, str) or not e or _bad_line(e) for e in self.extensions
        ):
            raise MalformedNoteError("checkpoint", "extension lines must be non-empty lines")

    def to_text(self) -> str:
        """The note text (the part that is signed), ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        if not isinstance(text, str) or not text.endswith("\n"):
            raise MalformedNoteError("checkpoint", "text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not all(lines):
            raise MalformedNoteError(
                "checkpoint", "needs origin, size and root hash on non-empty lines"
            )
        origin, size, root, *extensions = lines
        if len(size) > 19 or not _DECIMAL.fullmatch(size):  # 19 digits hold any int64
            raise MalformedNoteError("checkpoint", f"size {size[:30]!r} is not a plain decimal")
        root_hash = _b64decode(root, "checkpoint", "root hash")
        return cls(origin, int(size), root_hash, tuple(extensions))


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: int
    signature: bytes

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise MalformedNoteError(
                "signature", "key name must be non-empty, without spaces or '+'"
            )
        if type(self.key_hash) is not int or not 0 <= self.key_hash < 2**32:
            raise MalformedNoteError("signature", "key hash must be a 32-bit unsigned integer")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise MalformedNoteError("signature", "signature must be non-empty bytes")

    def to_line(self) -> str:
        raw = self.key_hash.to_bytes(4, "big") + self.signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(raw).decode('ascii')}\n"

    @classmethod
    def from_line(cls, line: str) -> NoteSignature:
        """Parse one signature line, with or without its final newline."""
        body = line[:-1] if line.endswith("\n") else line
        if not body.startswith(_SIG_PREFIX) or "\n" in body:
            raise MalformedNoteError("signature", "line must start with an em dash and a space")
        name, _, encoded = body[len(_SIG_PREFIX) :].partition(" ")
        raw = _b64decode(encoded, "signature", f"signature of {name[:40]!r}")
        if len(raw) < 5:
            raise MalformedNoteError("signature", "needs a key hash and a signature")
        return cls(name, int.from_bytes(raw[:4], "big"), raw[4:])


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def ed25519_key_hash(name: str, public_key: bytes) -> int:
    """C2SP signed-note key ID: SHA-256(name || 0x0A || 0x01 || key)[:4], big-endian."""
    if not _valid_name(name):
        raise MalformedNoteError("key", "key name must be non-empty, without spaces or '+'")
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise MalformedNoteError("key", "an Ed25519 public key is 32 bytes")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes((ED25519,)) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def format_ed25519_verifier_key(name: str, public_key: bytes) -> str:
    """The ``name+hash+base64(0x01 || key)`` string verifiers are configured with."""
    key_hash = ed25519_key_hash(name, public_key)
    encoded = base64.b64encode(bytes((ED25519,)) + public_key).decode("ascii")
    return f"{name}+{key_hash:08x}+{encoded}"


def parse_ed25519_verifier_key(vkey: str) -> tuple[str, int, bytes]:
    """``(name, key_hash, public_key)`` from a verifier key, its hash checked."""
    if not isinstance(vkey, str):
        raise MalformedNoteError("key", "verifier key must be a string")
    name, _, rest = vkey.partition("+")
    hex_hash, _, encoded = rest.partition("+")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_hash):
        raise MalformedNoteError("key", "verifier key must be name+<8 hex digits>+<base64 key>")
    raw = _b64decode(encoded, "key", "verifier key")
    if len(raw) != 33 or raw[0] != ED25519:
        raise MalformedNoteError("key", "verifier key is not an Ed25519 key")
    if ed25519_key_hash(name, raw[1:]) != int(hex_hash, 16):
        raise MalformedNoteError("key", f"key hash {hex_hash} does not match the key of {name!r}")
    return name, int(hex_hash, 16), raw[1:]


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    if not text.endswith("\n"):
        raise MalformedNoteError("note", "text must end with a newline")
    if not signers:
        raise MalformedNoteError("note", "needs at least one signer")
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        signature = signer.sign(message)
        if not isinstance(signature, bytes):
            raise MalformedNoteError("signature", f"signer {signer.name!r} returned no bytes")
        lines.append(NoteSignature(signer.name, signer.key_hash, signature).to_line())
    return text + "\n" + "".join(lines)


def split_note(message: str | bytes) -> tuple[str, list[NoteSignature]]:
    """The note text and its signatures, unverified; syntax only."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError("note", "is not valid UTF-8") from None
    if not isinstance(message, str):
        raise MalformedNoteError("note", f"expected text, got {type(message).__name__}")
    _check_text(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note", "has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("note", "signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError("note", f"has more than {MAX_SIGNATURES} signatures")
    return text, [NoteSignature.from_line(line) for line in lines]


def open_note(message: str | bytes, verifiers: Sequence[SignatureVerifier]) -> OpenedNote:
    """Parse a signed note and check every signature by a trusted key.

    Signatures by unknown keys are returned unverified (C2SP: ignored). A
    trusted key's failing signature raises `InvalidSignatureError`; a note
    with no signature by a trusted key raises `UnverifiedNoteError`.
    """
    text, signatures = split_note(message)
    trusted: dict[tuple[str, int], SignatureVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_hash) in trusted:
            raise CheckpointError("verifiers", f"two keys named {v.name}+{v.key_hash:08x}")
        trusted[(v.name, v.key_hash)] = v
    payload = text.encode("utf-8")
    verified: dict[tuple[str, int], NoteSignature] = {}
    unverified: dict[NoteSignature, None] = {}
    for sig in signatures:
        key = (sig.name, sig.key_hash)
        verifier = trusted.get(key)
        if verifier is None:
            unverified.setdefault(sig)
        elif key not in verified:
            if not verifier.verify(payload, sig.signature):
                raise InvalidSignatureError(
                    "note", f"signature by {sig.name}+{sig.key_hash:08x} does not verify"
                )
            verified[key] = sig
    if not verified:
        raise UnverifiedNoteError("note", "has no signature by a trusted key")
    return OpenedNote(text, tuple(verified.values()), tuple(unverified))


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[Signer]) -> str:
    return sign_note(checkpoint.to_text(), signers)


def open_checkpoint(
    message: str | bytes,
    verifiers: Sequence[SignatureVerifier],
    *,
    origin: str | None = None,
) -> SignedCheckpoint:
    """Verify a signed checkpoint and parse it; ``origin`` pins the log it must be for."""
    note = open_note(message, verifiers)
    checkpoint = Checkpoint.from_text(note.text)
    _within_validity(checkpoint, note.verified, verifiers)
    if origin is not None and checkpoint.origin != origin:
        raise UnexpectedOriginError(
            "checkpoint", f"is for {checkpoint.origin!r}, expected {origin!r}"
        )
    return SignedCheckpoint(checkpoint, note.verified, note.unverified)


def _within_validity(checkpoint: Checkpoint, verified: Sequence[NoteSignature],
                     verifiers: Sequence[SignatureVerifier]) -> None:
    """At least one trusted signature must be by a key still valid at the checkpoint's size."""
    bounds = {(v.name, v.key_hash): valid_until_tree(v) for v in verifiers}
    retired = []
    for sig in verified:
        bound = bounds.get((sig.name, sig.key_hash))
        if bound is None or checkpoint.size <= bound:
            return
        retired.append(f"{sig.name}+{sig.key_hash:08x} (valid up to tree {bound})")
    raise RetiredKeyError(
        "checkpoint", f"of tree {checkpoint.size} is signed only by a key rotated out before "
        f"it: {', '.join(retired)}")


def _valid_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and "+" not in name
        and not any(c.isspace() for c in name)
        and not _CONTROL.search(name)
        and _utf8_ok(name)
    )


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_line(line: str) -> bool:
    return "\n" in line or bool(_CONTROL.search(line)) or not _utf8_ok(line)


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise MalformedNoteError("note", f"expected text, got {type(text).__name__}")
    if _CONTROL.search(text):
        raise MalformedNoteError("note", "contains a control character other than newline")
    if not _utf8_ok(text):
        raise MalformedNoteError("note", "is not encodable as UTF-8")


def _b64decode(encoded: str, subject: str, what: str) -> bytes:
    # Canonical base64 only, so one value has one spelling in signed text.
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNoteError(subject, f"{what} is not valid base64") from None
    if not encoded or base64.b64encode(raw).decode("ascii") != encoded:
        raise MalformedNoteError(subject, f"{what} is not canonical base64")
    return raw
