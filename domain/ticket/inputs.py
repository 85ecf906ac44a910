"""What a ticket accepts as input: its key, a strategy id, digests, one-line text.

A ticket's id is derived from its key, so a key finds its record without an
index; the derivation must never change between releases.
"""

from __future__ import annotations

import re
from uuid import UUID

from opsledger.domain.errors import InvalidInput
from opsledger.domain.ids import derive_id

TICKET_KEY = re.compile(r"^[A-Z][A-Z0-9]{1,15}-[0-9]{1,10}$")
STRATEGY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
HMAC_SHA256 = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")


def ticket_id(key: str) -> UUID:
    return derive_id("ticket", key)


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not TICKET_KEY.fullmatch(key):
        raise InvalidInput(
            repr(key), "not a ticket key (expected letters, a dash and a number, e.g. CHG-2041)"
        )
    return key


# What a one-line field refuses besides tab-less C0 controls: DEL and the C1
# controls (U+0085 is a line break to str.splitlines), the line and paragraph
# separators, and the bidi controls that make text read other than it is stored
# (a reversed reason on a terminal, "Trojan Source").
_NOT_ONE_LINE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def validate_text(subject: str, what: str, value: str, *, limit: int = 2000) -> str:
    """One line of plain text: no line breaks, control or bidi characters."""
    bad = _NOT_ONE_LINE.search(value)
    if bad:
        raise InvalidInput(
            subject, f"{what} must be one line of plain text: U+{ord(bad[0]):04X} "
            f"({_char_name(bad[0])}) is not accepted"
        )
    if len(value) > limit:
        raise InvalidInput(subject, f"{what} must be one line of at most {limit} characters")
    return value


def _char_name(char: str) -> str:
    import unicodedata

    names = {"\x7f": "DELETE", "\x85": "NEXT LINE", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}
    return names.get(char) or unicodedata.name(char, "a control character")


def opening(key: str, *, strategy: str, artifact_digest: str, title: str) -> dict[str, str]:
    """What a ticket opens with, once each is valid: its key, a strategy id,
    the artifact's digest and a one-line title."""
    validate_key(key)
    if not STRATEGY_ID.fullmatch(strategy):
        raise InvalidInput(key, f"strategy id {strategy!r} is not valid")
    if not DIGEST.fullmatch(artifact_digest):
        raise InvalidInput(key, "artifact digest must look like sha256:<64 lowercase hex digits>")
    validate_text(key, "title", title, limit=200)
    return {"key": key, "title": title, "strategy": strategy, "artifact_digest": artifact_digest}
