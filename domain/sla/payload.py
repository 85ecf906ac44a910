"""Turning Alertmanager webhook logs into JSON values, with positioned errors.

A webhook log is read whole (payloads are small), through ``chunks`` so that gzip and
UTF-8 are handled, and refused past ``MAX_PAYLOAD`` bytes of text: a gzip bomb ends in
one line, not in an exhausted machine. Prometheus exports are walked as a stream instead
(``prometheus``). Positions are byte offsets; inside a gzip file they count decompressed
bytes and say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from opsledger.domain.sla.chunks import Payload, TextChunks
from opsledger.domain.sla.errors import ExportError

MAX_PAYLOAD = 256 << 20

__all__ = ["MAX_PAYLOAD", "BareConstant", "Payload", "iter_json"]


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
    chunks = TextChunks(data, source)
    parts: list[str] = []
    size = 0
    for part in chunks:
        size += len(part)
        if size > MAX_PAYLOAD:
            raise ExportError(
                source,
                f"{chunks.where}byte {MAX_PAYLOAD}",
                f"a webhook log over {MAX_PAYLOAD >> 20} MiB: refused (split it)",
            )
        parts.append(part)
    return "".join(parts), chunks.where


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
