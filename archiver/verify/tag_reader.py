"""Read a few small files out of a bag ``.tar.zst`` without verifying it.

`ledger verify` wants only the signed checkpoint each sealed archive carries
(``<top>/opsledger/checkpoint.txt``); hashing every payload byte as `archive
verify` does would cost it nothing it uses. This pass decompresses and walks
the tar under the verifier's own caps (decompressed size and ratio, zstd
window, members, one pax header or long name) and keeps only the wanted
members, each up to ``max_bytes``: memory is O(caps), whatever the archive.
The bytes it returns are not vouched for: the caller checks their signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from opsledger.archiver.errors import TarFormatError, TarTruncatedError
from opsledger.archiver.tarscan import MemberKind, TarScanner
from opsledger.archiver.verify.decompress import Decompressor, InputTap, StreamStopped
from opsledger.archiver.verify.limits import DEFAULT_LIMITS, Limits
from opsledger.archiver.verify.verifier import DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_RATIO, MAX_META

MAX_TAG_READ = 64 << 10  # a checkpoint with its cosignatures is well under 1 KiB


@dataclass
class TagRead:
    found: dict[str, bytes] = field(default_factory=dict)  # bag-relative path -> bytes
    problem: str | None = None  # why the walk stopped short (a cap, corruption), if it did


def read_tag_files(
    stream: BinaryIO,
    wanted: frozenset[str],
    *,
    max_bytes: int = MAX_TAG_READ,
    limits: Limits = DEFAULT_LIMITS,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> TagRead:
    """The `wanted` tag files (paths below the bag's top folder) that `stream`
    holds as regular files; stops as soon as all are found."""
    return read_members(stream, wanted.__contains__, max_bytes=max_bytes, limits=limits,
                        max_decompressed=max_decompressed, max_ratio=max_ratio,
                        enough=lambda found, _next: len(found) == len(wanted))


def read_members(
    stream: BinaryIO,
    want: Callable[[str], bool],
    *,
    max_bytes: int,
    enough: Callable[[dict[str, bytes], str], bool] = lambda _found, _next: False,
    limits: Limits = DEFAULT_LIMITS,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> TagRead:
    """The regular files whose bag-relative path `want` accepts, each up to
    `max_bytes`; the walk stops early once `enough(found, rel)` is true, with
    `rel` the member about to be read (or just read)."""
    result = TagRead()
    tap = InputTap(stream)
    producer = Decompressor(tap, max_decompressed, max_ratio)
    scanner = TarScanner(producer.chunks(), max_meta=MAX_META)
    members = 0
    try:
        for member in scanner:
            members += 1
            if members > limits.max_members:
                result.problem = f"more than {limits.max_members} tar members (the verifier's cap)"
                break
            top, _, rel = member.name.partition("/")
            if enough(result.found, rel):
                break
            if not want(rel) or member.kind is not MemberKind.FILE or rel in result.found:
                continue
            if member.size > max_bytes:
                result.problem = f"{rel} is {member.size} bytes, over the {max_bytes} read"
                break
            result.found[rel] = b"".join(bytes(view) for view in scanner.data())
            if enough(result.found, rel):
                break
    except StreamStopped as stop:
        result.problem = stop.finding.message
    except (TarTruncatedError, TarFormatError) as e:
        result.problem = str(e)
    finally:
        producer.abandon()
    return result
