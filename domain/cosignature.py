"""Witness cosignatures: C2SP ``tlog-cosignature``, Ed25519, signature type 0x04.

A cosignature is a note signature line on a checkpoint, by a witness that
checked the checkpoint is consistent with every one it cosigned before::

    — witness.example/w1 base64(u32 key ID || u64 timestamp || 64-byte signature)

The key ID is SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4],
big-endian. The Ed25519 signature covers, not the note text alone, but::

    cosignature/v1
    time <timestamp, decimal>
    <the checkpoint's note text, final newline included>

The timestamp (POSIX seconds, at most 2**63 - 1) is big-endian in the
signature bytes. The statement is: as of that time, this is the largest
consistent tree the witness has seen for the log of that origin.

Formatting and checking live here; the Ed25519 arithmetic stays behind the
`Signer` and `SignatureVerifier` ports, implemented by an adapter whose
``key_hash`` is the 0x04 key ID and whose ``verify``/``sign`` work on raw
messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from opsledger.domain.checkpoint import (
    MAX_SIGNATURES,
    CheckpointError,
    MalformedNoteError,
    NoteSignature,
    SignatureVerifier,
    Signer,
    _valid_name,
    split_note,
)

COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1"
MAX_TIMESTAMP = 2**63 - 1
_TIMESTAMP_BYTES = 8
_ED25519_SIGNATURE = 64


def cosigner_key_hash(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x04 || key)[:4], big-endian."""
    if not _valid_name(name):
        raise MalformedNoteError("key", "key name must be non-empty, without spaces or '+'")
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise MalformedNoteError("key", "an Ed25519 public key is 32 bytes")
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes((COSIGNATURE_V1,)) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def format_cosigner_key(name: str, public_key: bytes) -> str:
    """The witness's verifier key: ``name+hash+base64(0x04 || key)``."""
    key_hash = cosigner_key_hash(name, public_key)
    encoded = base64.b64encode(bytes((COSIGNATURE_V1,)) + public_key).decode("ascii")
    return f"{name}+{key_hash:08x}+{encoded}"


def parse_cosigner_key(vkey: str) -> tuple[str, int, bytes]:
    """``(name, key_hash, public_key)`` of a type 0x04 verifier key, its hash checked."""
    if not isinstance(vkey, str):
        raise MalformedNoteError("key", "verifier key must be a string")
    name, _, rest = vkey.strip().partition("+")
    hex_hash, _, encoded = rest.partition("+")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_hash):
        raise MalformedNoteError("key", "verifier key must be name+<8 hex digits>+<base64 key>")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNoteError("key", "verifier key is not valid base64") from None
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise MalformedNoteError("key", "not a witness key (an Ed25519 cosignature key, type 0x04)")
    if cosigner_key_hash(name, raw[1:]) != int(hex_hash, 16):
        raise MalformedNoteError("key", f"key hash {hex_hash} does not match the key of {name!r}")
    return name, int(hex_hash, 16), raw[1:]


def cosigned_message(note_text: str, timestamp: int) -> bytes:
    """What the witness's Ed25519 key signs for the checkpoint ``note_text``."""
    _check_timestamp(timestamp)
    if not isinstance(note_text, str) or not note_text.endswith("\n"):
        raise MalformedNoteError("note", "text must end with a newline")
    return f"{HEADER}\ntime {timestamp}\n{note_text}".encode()


def cosign(note_text: str, signer: Signer, timestamp: int) -> NoteSignature:
    """The cosignature line's value: ``signer`` (a 0x04 key) over ``note_text`` at ``timestamp``."""
    signature = signer.sign(cosigned_message(note_text, timestamp))
    if not isinstance(signature, bytes) or len(signature) != _ED25519_SIGNATURE:
        raise MalformedNoteError("signature", f"cosigner {signer.name!r} returned no signature")
    return NoteSignature(signer.name, signer.key_hash, timestamp.to_bytes(8, "big") + signature)


def timestamp_of(signature: NoteSignature) -> int:
    """The time a cosignature says it was made (its signature unchecked)."""
    if len(signature.signature) != _TIMESTAMP_BYTES + _ED25519_SIGNATURE:
        raise MalformedNoteError("signature", "a cosignature is 8 + 64 bytes")
    return int.from_bytes(signature.signature[:_TIMESTAMP_BYTES], "big")


@dataclass(frozen=True)
class CosignatureVerifier:
    """A `SignatureVerifier` for one witness's cosignatures, so that ``open_note``
    checks them like any other signature: it unwraps the timestamp and asks the
    raw Ed25519 verifier (the port) about the ``cosignature/v1`` message."""

    raw: SignatureVerifier  # name and 0x04 key hash; verifies raw Ed25519 messages

    @property
    def name(self) -> str:
        return self.raw.name

    @property
    def key_hash(self) -> int:
        return self.raw.key_hash

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != _TIMESTAMP_BYTES + _ED25519_SIGNATURE:
            return False
        timestamp = int.from_bytes(signature[:_TIMESTAMP_BYTES], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            return False
        signed = cosigned_message(text, timestamp)
        return self.raw.verify(signed, signature[_TIMESTAMP_BYTES:])


@dataclass(frozen=True)
class Cosigned:
    """Which trusted witnesses cosigned a note: valid, and failing (forged or
    made for another checkpoint); signatures by other keys are not counted."""

    valid: tuple[str, ...]  # verifier keys' "name+hash"
    invalid: tuple[str, ...]
    timestamps: tuple[int, ...]


def count_cosignatures(
    note: str | bytes, witnesses: Sequence[SignatureVerifier]
) -> Cosigned:
    """Checks every cosignature on ``note`` by one of ``witnesses`` (cosignature
    verifiers). Each witness counts once; a witness with one valid cosignature
    counts as valid even if another of its lines fails."""
    text, signatures = split_note(note)
    by_key = {(w.name, w.key_hash): w for w in witnesses}
    valid: dict[str, int] = {}
    invalid: dict[str, None] = {}
    payload = text.encode("utf-8")
    for sig in signatures:
        witness = by_key.get((sig.name, sig.key_hash))
        if witness is None:
            continue
        label = f"{sig.name}+{sig.key_hash:08x}"
        if witness.verify(payload, sig.signature):
            valid.setdefault(label, timestamp_of(sig))
        else:
            invalid.setdefault(label)
    failing = tuple(k for k in invalid if k not in valid)
    return Cosigned(tuple(valid), failing, tuple(valid.values()))


def add_signatures(note: str, lines: Sequence[NoteSignature]) -> str:
    """``note`` with ``lines`` appended, skipping any it already carries."""
    _, existing = split_note(note)
    have = set(existing)
    extra = []
    for line in lines:
        if line not in have:
            have.add(line)
            extra.append(line.to_line())
    if len(have) > MAX_SIGNATURES:
        raise CheckpointError("note", f"would carry more than {MAX_SIGNATURES} signatures")
    return note + "".join(extra)


def _check_timestamp(timestamp: object) -> None:
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedNoteError("cosignature", f"timestamp {timestamp!r} is out of range")
