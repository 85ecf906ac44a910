"""The verifier's caps: every input it reads is bounded, so memory is O(caps).

A hostile archive of a few megabytes must not cost gigabytes. Each input the
verifier (and the provenance stages after it) reads has a cap; going past
one stops the pass with exactly one ``limit-exceeded`` finding, after which
the rest of the input is only hashed (for the detached manifest's archive
checks) and nothing more is kept or judged. The verdict is then a failure.

===============================  ===========  ======================================
Input                            Default      Why this much
===============================  ===========  ======================================
detached manifest (sidecar)      16 MiB       50,000 files at up to ~300 bytes a file
tar members, of every kind       50,000       a session folder holds hundreds
one member's path                4 KiB        PATH_MAX; pax/GNU long headers: 64 KiB
all member paths together        8 MiB        what the duplicate check keeps
one tag file (kept in memory)    16 MiB       events.jsonl of ~8,000 signed events
all tag files together           48 MiB       the manifests, events, roster, proofs
lines of one BagIt manifest      50,001       one line per member, and a spare
lines of bagit.txt, bag-info.txt 10,000       ours write ~20 (and one per gap)
JSON nesting depth               64           events and proofs nest 6 deep
JSON values in one document      1,000,000    each value costs <= ~72 bytes parsed
JSON lines (events, roster)      50,000       ~8,000 events fit six times over
findings of one kind             100          then one line counting the rest
decompressed tar                 1 TiB        and 1000x the input past 64 MiB
zstd window                      128 MiB      level 22's window; zstd's default cap
===============================  ===========  ======================================

JSON limits apply to the detached manifest and to every ``.json``/``.jsonl``
tag file the archive carries, before anything parses them. They are checked
without parsing: the depth by peeling bracket pairs off the document with
strings removed, the value count from the separators (an upper bound).

Measured: a sound archive at the caps (49,792 members with 100-byte paths,
an 11.5 MB sha512 manifest, a 9.8 MB detached manifest) verifies in 195 MB
of RSS (10 s); every hostile input of ``tests/unit/test_verify_bounds.py``
stays under 80 MB. The caps are ``Limits`` fields, for callers that need others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsledger.archiver.verify.findings import Finding, FindingKind, finding

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_detached_manifest: int = 16 * MiB
    max_members: int = 50_000
    max_path: int = 4096
    max_paths_total: int = 8 * MiB
    max_tag_file: int = 16 * MiB
    max_tag_total: int = 48 * MiB
    max_manifest_lines: int = 50_001
    # bag-info.txt is parsed into (label, value) pairs, ~300 bytes each in
    # Python: a 9 MB bag-info of short lines cost 259 MB before this cap.
    max_tag_lines: int = 10_000
    max_json_depth: int = 64
    max_json_values: int = 1_000_000
    max_json_lines: int = 50_000
    max_findings_per_kind: int = 100


DEFAULT_LIMITS = Limits()


class LimitExceeded(Exception):
    """A cap was passed; ``finding`` is the one finding the verdict carries."""

    def __init__(self, what: str, cap: object, actual: object, path: str | None = None,
                 *, then: str = "verification stopped") -> None:
        super().__init__(f"{what} exceeds the verifier's cap")
        self.finding: Finding = finding(
            FindingKind.LIMIT_EXCEEDED, path, f"{what} exceeds the verifier's cap; {then}",
            expected=f"<= {cap}", actual=actual,
        )


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_PAIR = re.compile(rb"\[\]|\{\}")


def json_depth_exceeds(data: bytes, max_depth: int) -> bool:
    """Whether JSON text (one document, or lines of them) nests deeper than
    ``max_depth``. A malformed document may be judged either way; the parser
    refuses it after."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    for _ in range(max_depth):  # each pass removes the innermost level
        brackets, pairs = _PAIR.subn(b"", brackets)
        if not pairs or not brackets:
            break
    # Pairs left: deeper than the cap. Unpaired openers (a malformed text, or
    # a quote hiding the closers) are as deep as their count.
    return (_PAIR.search(brackets) is not None
            or brackets.count(b"[") + brackets.count(b"{") > max_depth)


def json_values_bound(data: bytes) -> int:
    """An upper bound of the values a JSON text parses into: every value but
    the first of a document follows a ',', ':', '[' or a line break."""
    return (data.count(b",") + data.count(b":") + data.count(b"[") + data.count(b"\n")
            + 1)


def check_json(data: bytes, name: str | None, limits: Limits = DEFAULT_LIMITS,
               *, lines: bool = False) -> None:
    """Raises ``LimitExceeded`` when JSON text is past a cap; cheap, no parsing."""
    if lines and data.count(b"\n") > limits.max_json_lines:
        raise LimitExceeded("its number of lines", limits.max_json_lines,
                            data.count(b"\n"), name)
    values = json_values_bound(data)
    if values > limits.max_json_values:
        raise LimitExceeded("its number of JSON values", limits.max_json_values,
                            f"up to {values}", name)
    if json_depth_exceeds(data, limits.max_json_depth):
        raise LimitExceeded("its JSON nesting depth", limits.max_json_depth,
                            f"more than {limits.max_json_depth}", name)
