"""BagIt text formats: manifest lines, bag-info tags and file path encoding.

RFC 8493 section 2.1.3 says a file path containing CR, LF or ``%`` MUST have
those characters (and only those) percent-encoded. bagit-python 1.9 and
bagit-java 5 only encode CR/LF and write ``%`` raw (bagit-python issue #157),
so reading accepts every spelling a real bag may use; see ``path_candidates``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from opsledger.archiver.errors import BagInputError

BAGIT_VERSION = "1.0"
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

# Labels the builder sets itself; a caller supplying them would make the
# bag-info ambiguous.
RESERVED_LABELS = frozenset({"payload-oxum", "bagging-date", "external-identifier"})

_RFC_ESCAPE = re.compile(r"%(25|0[aAdD])")
_RFC_UNESCAPE = {"25": "%", "0a": "\n", "0d": "\r"}
_LEGACY_ESCAPE = re.compile(r"%0[aAdD]")
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def encode_path(path: str) -> str:
    """Spell ``path`` for a manifest line as RFC 8493 requires."""
    # '%' first, or the escapes added for CR/LF would be escaped again.
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path_rfc(raw: str) -> str | None:
    """Decode an RFC 8493 manifest path; None if it cannot be one (a ``%``
    that does not start ``%25``, ``%0A`` or ``%0D``)."""
    pos = 0
    for match in re.finditer("%", raw):
        if match.start() < pos:
            continue
        if not _RFC_ESCAPE.match(raw, match.start()):
            return None
        pos = match.start() + 3
    return _RFC_ESCAPE.sub(lambda m: _RFC_UNESCAPE[m.group(1).lower()], raw)


def decode_path_legacy(raw: str) -> str:
    """Decode as bagit-python/bagit-java write paths: CR/LF escaped, ``%`` raw."""
    return _LEGACY_ESCAPE.sub(lambda m: "\n" if m.group(0)[2] in "aA" else "\r", raw)


def path_candidates(raw: str) -> list[str]:
    """Every path a manifest entry may name, most standard first.

    The raw spelling comes last for writers that escape nothing at all.
    """
    found: list[str] = []
    for candidate in (decode_path_rfc(raw), decode_path_legacy(raw), raw):
        if candidate is not None and candidate not in found:
            found.append(candidate)
    return found


def manifest_text(entries: Iterable[tuple[str, str]]) -> bytes:
    """Render ``(path, hex digest)`` pairs as a manifest file."""
    return "".join(f"{digest}  {encode_path(path)}\n" for path, digest in entries).encode()


class ManifestLine:
    """One parsed manifest line: the digest and the still-encoded path."""

    __slots__ = ("digest", "raw_path", "line_no")

    def __init__(self, digest: str, raw_path: str, line_no: int) -> None:
        self.digest = digest
        self.raw_path = raw_path
        self.line_no = line_no


def parse_manifest(text: str) -> tuple[list[ManifestLine], list[str]]:
    """Split a manifest into entries and a list of problems (bad lines)."""
    entries: list[ManifestLine] = []
    problems: list[str] = []
    for entry, problem in iter_manifest(text):
        if entry is not None:
            entries.append(entry)
        else:
            problems.append(problem)
    return entries, problems


def iter_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` (CRLF, CR or LF), one at a time: no list of them all."""
    pos = 0
    while pos <= len(text):
        match = _LINE_BREAK.search(text, pos)
        end = match.start() if match else len(text)
        yield text[pos:end]
        if match is None:
            return
        pos = match.end()


def iter_manifest(text: str) -> Iterator[tuple[ManifestLine | None, str]]:
    """Each non-empty manifest line as (entry, "") or (None, problem), lazily."""
    for line_no, line in enumerate(iter_lines(text), start=1):
        if not line:
            continue
        digest, sep, rest = line.partition(" ")
        if not sep:
            digest, sep, rest = line.partition("\t")
        raw_path = rest.lstrip(" \t")
        # bagit-python strips a leading '*' (sha256sum's binary-mode marker).
        if raw_path.startswith("*"):
            raw_path = raw_path[1:]
        if not sep or not raw_path or not _HEX_DIGEST.fullmatch(digest):
            yield None, f"line {line_no}: not '<checksum> <path>': {line[:120]!r}"
            continue
        yield ManifestLine(digest.lower(), raw_path, line_no), ""


def bag_info_text(fields: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{label}: {value}\n" for label, value in fields).encode()


def parse_tag_file(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Parse ``Label: value`` lines, joining RFC 8493 continuation lines."""
    fields: list[tuple[str, str]] = []
    problems: list[str] = []
    for line_no, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line:
            continue
        if line[0] in " \t":
            if not fields:
                problems.append(f"line {line_no}: continuation line without a label")
                continue
            label, value = fields[-1]
            fields[-1] = (label, f"{value} {line.strip()}")
            continue
        label, sep, value = line.partition(":")
        if not sep or not label.strip():
            problems.append(f"line {line_no}: not 'Label: value': {line[:120]!r}")
            continue
        fields.append((label.strip(), value.strip()))
    return fields, problems


def check_bag_info_fields(fields: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Validate caller-supplied bag-info fields; returns them as a list."""
    checked: list[tuple[str, str]] = []
    for item in fields:
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(s, str) for s in item)):
            raise BagInputError(f"bag-info field must be a (label, value) pair of str: {item!r}")
        label, value = item
        if not label or label != label.strip() or ":" in label or not label.isprintable():
            raise BagInputError(f"invalid bag-info label {label!r}")
        if label.lower() in RESERVED_LABELS:
            raise BagInputError(f"bag-info label {label!r} is set by the archiver itself")
        if value != value.strip() or not value.isprintable():
            raise BagInputError(
                f"bag-info value for {label!r} must be one printable line without"
                " leading or trailing whitespace"
            )
        checked.append((label, value))
    return checked


def check_tag_file_name(name: str) -> str:
    """Validate a caller-supplied tag file name (relative to the bag root)."""
    if not isinstance(name, str) or not name:
        raise BagInputError(f"tag file name must be a non-empty str: {name!r}")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BagInputError(f"tag file name {name!r} must be a plain relative path")
    if not name.isprintable() or "\\" in name or name != name.strip():
        raise BagInputError(f"tag file name {name!r} has control, backslash or edge-space characters")
    top = parts[0]
    if top == "data":
        raise BagInputError(f"tag file {name!r} would land in the payload directory")
    if len(parts) == 1 and (
        top in ("bagit.txt", "bag-info.txt", "fetch.txt")
        or top.startswith(("manifest-", "tagmanifest-"))
    ):
        raise BagInputError(f"tag file name {name!r} is reserved by BagIt")
    return name

