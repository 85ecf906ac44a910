"""Turning export bytes into JSON values: gzip detection, UTF-8, and positioned errors.

Positions are byte offsets; inside a gzip file they count decompressed bytes and say so.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from opsledger.domain.sla.errors import ExportError

Payload = bytes | bytearray | memoryview | BinaryIO

_GZIP_MAGIC = b"\x1f\x8b"


def load_json(data: Payload, source: str) -> Any:
    """Exactly one JSON document, plain or gzip-compressed."""
    text, where = _text(data, source)
    try:
        return json.loads(text, parse_constant=BareConstant)
    except json.JSONDecodeError as exc:
        raise ExportError(source, _at(where, text, exc.pos), f"JSON syntax: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        # Over-long integers and pathological nesting surface as these.
        raise ExportError(source, f"{where}document", f"JSON: {exc}") from None


def iter_json(data: Payload, source: str) -> Iterator[Any]:
    """Successive JSON documents separated by whitespace: one document, or JSON lines."""
    text, where = _text(data, source)
    decoder = json.JSONDecoder(parse_constant=BareConstant)
    pos = _skip_space(text, 0)
    while pos < len(text):
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ExportError(
                source, _at(where, text, exc.pos), f"JSON syntax: {exc.msg}"
            ) from None
        except (ValueError, RecursionError) as exc:
            raise ExportError(source, _at(where, text, pos), f"JSON: {exc}") from None
        yield value
        pos = _skip_space(text, pos)


def _text(data: Payload, source: str) -> tuple[str, str]:
    raw = _read(data, source)
    where = ""
    if raw[:2] == _GZIP_MAGIC:
        raw = _gunzip(raw, source)
        where = "decompressed "
    try:
        return raw.decode("utf-8"), where
    except UnicodeDecodeError as exc:
        raise ExportError(source, f"{where}byte {exc.start}", "not valid UTF-8") from None


def _read(data: Payload, source: str) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    try:
        raw = data.read()
    except OSError as exc:
        raise ExportError(source, "byte 0", f"cannot read: {exc}") from None
    if not isinstance(raw, bytes):
        raise ExportError(source, "byte 0", "the stream must be opened in binary mode")
    return raw


def _gunzip(raw: bytes, source: str) -> bytes:
    # zlib rather than gzip.decompress so that a corrupt or truncated member is reported
    # at the compressed offset where it starts.
    out: list[bytes] = []
    view = memoryview(raw)
    offset = 0
    while offset < len(raw):
        if raw[offset : offset + 2] != _GZIP_MAGIC:
            if not any(view[offset:]):
                break  # zero padding after the last member, as gzip(1) tolerates
            raise ExportError(source, f"byte {offset}", "trailing data after the gzip stream")
        inflater = zlib.decompressobj(wbits=31)
        try:
            out.append(inflater.decompress(view[offset:]))
            out.append(inflater.flush())
        except zlib.error as exc:
            raise ExportError(
                source, f"gzip member at byte {offset}", f"corrupt gzip data: {exc}"
            ) from None
        if not inflater.eof:
            raise ExportError(source, f"byte {len(raw)}", "gzip stream is truncated")
        offset = len(raw) - len(inflater.unused_data)
    return b"".join(out)


class BareConstant:
    """Stands in for NaN/Infinity literals, which are not JSON; the shape checks then
    refuse them at their JSON path, which says more than a byte offset would."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{self.name} (bare JSON literal)"


def _at(where: str, text: str, pos: int) -> str:
    return f"{where}byte {len(text[:pos].encode('utf-8'))}"


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
