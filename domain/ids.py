"""Ids derived from keys, and the UTC clock: the stdlib-only part of the model,
so that a command that only reads never imports pydantic's model machinery."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid5

# Fixed namespace: ids derived from keys must never change between releases.
NAMESPACE = UUID("6f0c2b1e-8d47-5a53-9a51-0b5d1f3e7c21")


def utcnow() -> datetime:
    return datetime.now(UTC)


def derive_id(kind: str, key: str) -> UUID:
    """Deterministic aggregate id, so a key finds its record without an index."""
    return uuid5(NAMESPACE, f"{kind}:{key}")
