"""The canonical bytes of one stored event: a Merkle leaf (format 1).

Integers are unsigned big-endian, text is UTF-8 exactly as stored (the
originator id as ``str(uuid)``, i.e. lower-case and hyphenated), and every
variable-length field carries its length so no two different events encode
to the same bytes::

    leaf_bytes = 0x01                              1 byte, format number
              || u64(position)                     8 bytes, notification id
              || u32(len(originator_id)) || originator_id
              || u64(version)                      8 bytes, originator version
              || u32(len(topic)) || topic
              || u32(len(state)) || state          the stored state, as is

Example: ``leaf_bytes(7, "a", 1, "t", b"\\x00")`` is, in hex,
``01 0000000000000007 00000001 61 0000000000000001 00000001 74 00000001 00``.
"""

from __future__ import annotations

from opsledger.domain.merkle.hashing import MerkleInputError, as_bytes, require_count

LEAF_FORMAT = 1

_U32_MAX = 2**32 - 1


def leaf_bytes(position: int, originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """The canonical bytes of one stored event (see the module docstring)."""
    return b"".join(
        (
            bytes((LEAF_FORMAT,)),
            _uint(position, 8, "position"),
            _prefixed(_utf8(originator_id, "originator_id"), "originator_id"),
            _uint(version, 8, "version"),
            _prefixed(_utf8(topic, "topic"), "topic"),
            _prefixed(as_bytes(state, "state"), "state"),
        )
    )


def _uint(value: object, width: int, name: str) -> bytes:
    require_count(value, name)
    assert isinstance(value, int)
    if value >= 1 << (8 * width):
        raise MerkleInputError(name, f"{value} does not fit in {8 * width} bits")
    return value.to_bytes(width, "big")


def _utf8(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise MerkleInputError(name, f"expected str, got {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise MerkleInputError(name, "is not encodable as UTF-8") from None


def _prefixed(data: bytes, name: str) -> bytes:
    if len(data) > _U32_MAX:
        raise MerkleInputError(name, f"{len(data)} bytes do not fit a 32-bit length")
    return len(data).to_bytes(4, "big") + data
