"""Follow zstd frame boundaries in the compressed bytes as they stream past.

python-zstandard's streaming readers return a short read, not an error,
when input ends mid-frame; an archive cut anywhere (even inside the final
checksum) would then look complete. Walking the frame and block headers
(RFC 8878) costs a few operations per 128 KiB block and tells exactly
whether the last frame was finished.

With ``strip_checksums`` the tracker also hides each frame's XXH64 content
checksum from the decoder (clearing the header flag, dropping the 4 bytes).
Otherwise one flipped byte in a stored block surfaces only as a checksum
error at the very end of the frame, and python-zstandard discards the last
read's output with it, which holds the manifests. The verifier's sha256 and
sha512 of every member cover the same bytes more precisely.
"""

from __future__ import annotations

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE_MAGIC = 0x184D2A50


class ZstdFrameTracker:
    """Feed it every compressed byte in order; then read ``complete``."""

    def __init__(self, *, strip_checksums: bool = False) -> None:
        self.strip_checksums = strip_checksums
        self.offset = 0
        self.frames = 0
        self.error: str | None = None
        self._need = 4  # bytes of the field being collected, or to skip
        self._field = bytearray()
        self._state = "magic"
        self._checksum = False
        self._last = False
        self._then = "magic"
        self._field_end = 0

    @property
    def complete(self) -> bool:
        """At least one frame, and the input did not stop inside one."""
        return self.error is None and self.frames > 0 and self._state == "magic" and not self._field

    def feed(self, data: bytes) -> bytes:
        """Track ``data``; returns it, minus checksums if stripping."""
        view = memoryview(data)
        pos = 0
        edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement)
        while pos < len(view) and self.error is None:
            if self._state == "skip":
                k = min(self._need, len(view) - pos)
                if self._then == "frame-end" and self.strip_checksums:
                    edits.append((pos, pos + k, b""))
                self._need -= k
                pos += k
                if not self._need:
                    self._after_skip()
                continue
            k = min(self._need - len(self._field), len(view) - pos)
            self._field += view[pos : pos + k]
            pos += k
            if len(self._field) == self._need:
                field = bytes(self._field)
                self._field.clear()
                self._field_end = self.offset + pos
                if self._state == "descriptor" and self.strip_checksums and field[0] & 0x04:
                    edits.append((pos - 1, pos, bytes([field[0] & ~0x04])))
                self._on_field(field)
        self.offset += len(view)
        if not edits:
            return data
        parts, start = [], 0
        for begin, end, replacement in edits:
            parts += [view[start:begin], replacement]
            start = end
        parts.append(view[start:])
        return b"".join(parts)

    def _expect(self, state: str, n: int) -> None:
        self._state, self._need = state, n

    def _on_field(self, field: bytes) -> None:
        value = int.from_bytes(field, "little")
        state = self._state
        if state == "magic":
            if value == _ZSTD_MAGIC:
                self._expect("descriptor", 1)
            elif value & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                self._expect("skippable-size", 4)
            else:
                self.error = f"no zstd frame at compressed offset {self._field_end - 4}"
        elif state == "skippable-size":
            self._after_header_skip(value, "skippable")
        elif state == "descriptor":
            fcs_flag, single = value >> 6, (value >> 5) & 1
            if value & 0x08:
                self.error = "zstd frame header has its reserved bit set"
                return
            self._checksum = bool(value & 0x04)
            dict_len = (0, 1, 2, 4)[value & 0x03]
            fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
            rest = (0 if single else 1) + dict_len + fcs_len
            self._after_header_skip(rest, "block-header")
        elif state == "block-header":
            last, block_type, size = value & 1, (value >> 1) & 3, value >> 3
            if block_type == 3:
                self.error = "zstd block of reserved type"
                return
            self._last = bool(last)
            self._after_header_skip(1 if block_type == 1 else size, "block-end")

    def _after_header_skip(self, n: int, then: str) -> None:
        self._then = then
        if n:
            self._expect("skip", n)
        else:
            self._after_skip()

    def _after_skip(self) -> None:
        then = self._then
        if then == "skippable":
            self._expect("magic", 4)
        elif then == "block-header":
            self._expect("block-header", 3)
        elif then == "block-end":
            if not self._last:
                self._expect("block-header", 3)
            elif self._checksum:
                self._then = "frame-end"
                self._expect("skip", 4)
            else:
                self._frame_done()
        elif then == "frame-end":
            self._frame_done()

    def _frame_done(self) -> None:
        self.frames += 1
        self._expect("magic", 4)
