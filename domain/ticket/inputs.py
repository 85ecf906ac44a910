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


def ticket_id(key: str) -> UUID:
    return derive_id("ticket", key)


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not TICKET_KEY.match(key):
        raise InvalidInput(
            repr(key), "not a ticket key (expected letters, a dash and a number, e.g. CHG-2041)"
        )
    return key


def validate_text(subject: str, what: str, value: str, *, limit: int = 2000) -> str:
    if any(ord(c) < 32 and c not in "\t" for c in value) or len(value) > limit:
        raise InvalidInput(subject, f"{what} must be one line of at most {limit} characters")
    return value


def opening(key: str, *, strategy: str, artifact_digest: str, title: str) -> dict[str, str]:
    """What a ticket opens with, once each is valid: its key, a strategy id,
    the artifact's digest and a one-line title."""
    validate_key(key)
    if not STRATEGY_ID.match(strategy):
        raise InvalidInput(key, f"strategy id {strategy!r} is not valid")
    if not DIGEST.match(artifact_digest):
        raise InvalidInput(key, "artifact digest must look like sha256:<64 lowercase hex digits>")
    validate_text(key, "title", title, limit=200)
    return {"key": key, "title": title, "strategy": strategy, "artifact_digest": artifact_digest}
