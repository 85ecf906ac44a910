"""A JSON reader that walks a document as its text arrives, one value at a time.

The standard library has no incremental JSON parser; this one lets ``json`` decode
each small value (keys, labels, one sample) and leaves the caller to walk the big
containers, so that only a chunk or two of text is held at any time. Positions are
byte offsets into the (decompressed) document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from opsledger.domain.sla.errors import ExportError
from opsledger.domain.sla.payload import BareConstant

VALUE_LIMIT = 4 << 20  # one label set, key or sample; the big arrays are walked instead
_NOT_SPACE = re.compile(r"[^ \t\r\n]")


class Scanner:
    def __init__(self, chunks: Iterator[str], source: str, where: Any) -> None:
        self._chunks = chunks
        self.source = source
        self._where = where  # an object with `where`: "" or "decompressed "
        self.buf = ""
        self.pos = 0
        self._base = 0  # bytes before buf[0]
        self.eof = False
        self._decoder = json.JSONDecoder(parse_constant=BareConstant)

    # --- the buffer ---------------------------------------------------------------------

    def more(self) -> bool:
        """Reads the next chunk; False at the end of the document."""
        if self.eof:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self.eof = True
            return False
        if self.pos:
            self._base += len(self.buf[: self.pos].encode("utf-8"))
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += chunk
        return True

    def ahead(self, n: int) -> bool:
        """At least `n` characters are buffered past pos, unless the document ends first."""
        while len(self.buf) - self.pos < n:
            if not self.more():
                return False
        return True

    def at(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        return f"{self._where.where}byte {self._base + len(self.buf[:pos].encode('utf-8'))}"

    def syntax(self, message: str, pos: int | None = None) -> ExportError:
        return ExportError(self.source, self.at(pos), f"JSON syntax: {message}")

    # --- tokens -------------------------------------------------------------------------

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            found = _NOT_SPACE.search(self.buf, self.pos)
            if found is not None:
                self.pos = found.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self.more():
                return ""

    def expect(self, chars: str, message: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            raise self.syntax(message)
        self.pos += 1
        return found

    def value(self, where: str | None = None) -> Any:
        """One whole JSON value (small: see VALUE_LIMIT). `where` names it for errors
        that are not about syntax (e.g. nesting too deep)."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                near_end = exc.pos + 64 >= len(self.buf) or exc.msg.startswith("Unterminated")
                if near_end and len(self.buf) - self.pos <= VALUE_LIMIT and self.more():
                    continue
                if near_end and not self.eof:
                    raise ExportError(
                        self.source, self.at(), f"a JSON value longer than {VALUE_LIMIT} bytes"
                    ) from None
                raise self.syntax(exc.msg, exc.pos) from None
            except (ValueError, RecursionError) as exc:
                # Over-long integers and pathological nesting surface as these.
                raise ExportError(self.source, where or self.at(), f"JSON: {exc}") from None
            if end == len(self.buf) and self.more():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value

    def key(self) -> str:
        if self.peek() != '"':
            raise self.syntax("Expecting property name enclosed in double quotes")
        name = self.value()
        self.expect(":", "Expecting ':' delimiter")
        return name

    def members(self) -> Iterator[str]:
        """The keys of the object at pos, each followed by the caller reading its value."""
        self.expect("{", "Expecting '{'")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            yield self.key()
            if self.expect(",}", "Expecting ',' delimiter") == "}":
                return

    def elements(self) -> Iterator[int]:
        """The indexes of the array at pos, each followed by the caller reading its value."""
        self.expect("[", "Expecting '['")
        if self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            if self.expect(",]", "Expecting ',' delimiter") == "]":
                return

    def end(self) -> None:
        if self.peek():
            raise self.syntax("Extra data")
