"""Follow zstd frame boundaries in the compressed bytes as they stream past.

python-zstandard's streaming readers return a short read, not an error,
when input ends mid-frame; an archive cut anywhere (even inside the final
checksum) would then look complete. Walking the frame and block headers
(RFC 8878) costs a few operations per 128 KiB block and tells exactly
whether the last frame was finished.

The tracker also cuts the input into pieces for the decoder, each tagged:

- ``zstd``: frame header and blocks, cut after every ``BLOCKS_PER_PIECE``
  blocks. A block decodes to at most 128 KiB, so one piece never decodes to
  more than 1 MiB, however well a hostile frame compresses;
- ``checksum``: a frame's 4-byte XXH64 content checksum, alone, so that the
  decoder verifies it after it has handed out every byte of the frame (a
  mismatch is an error on a call that has no output to lose);
- ``skippable``: a skippable frame (magic 0x184D2A5?), which decoders
  silently pass over; the verifier never decodes it and reports it, since
  the archive writer never writes one and data can hide there;
- ``junk``: bytes that are no frame (after an error), handed to the decoder
  only if no frame came before them, so that it says what is wrong.
"""

from __future__ import annotations

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE_MAGIC = 0x184D2A50
BLOCKS_PER_PIECE = 8

Piece = tuple[str, bytes | memoryview]


class ZstdFrameTracker:
    """Feed it every compressed byte in order; it returns the tagged pieces."""

    def __init__(self) -> None:
        self.offset = 0
        self.frames = 0  # zstd frames completed
        self.skippable: list[tuple[int, int]] = []  # (offset, content size), first few
        self.skippable_count = 0
        self.error: str | None = None
        self._need = 4  # bytes of the field being collected, or to skip
        self._field = bytearray()
        self._state = "magic"
        self._checksum = False
        self._last = False
        self._then = "magic"
        self._field_end = 0
        self._role: str | None = None  # of the bytes since self._seg; None: a magic is pending
        self._seg = 0
        self._blocks = 0
        self._view = memoryview(b"")
        self._out: list[Piece] = []

    @property
    def complete(self) -> bool:
        """At least one frame, and the input did not stop inside one."""
        return self.error is None and self.frames > 0 and self._state == "magic" and not self._field

    def feed(self, data: bytes) -> list[Piece]:
        """Track ``data``; returns it cut into tagged pieces."""
        self._view, self._out, self._seg = memoryview(data), [], 0
        view, pos = self._view, 0
        while pos < len(view) and self.error is None:
            if self._state == "skip":
                k = min(self._need, len(view) - pos)
                self._need -= k
                pos += k
                if not self._need:
                    self._after_skip(pos)
                continue
            k = min(self._need - len(self._field), len(view) - pos)
            self._field += view[pos : pos + k]
            pos += k
            if len(self._field) == self._need:
                field = bytes(self._field)
                self._field.clear()
                self._field_end = self.offset + pos
                self._on_field(field, pos)
        if self.error is not None and self._role != "junk":
            self._cut(pos)
            self._role = "junk"
        self._cut(len(view))
        self.offset += len(view)
        return self._out

    def finish(self) -> list[Piece]:
        """At the end of input: a partial magic number is junk."""
        if self._state == "magic" and self._field:
            return [("junk", bytes(self._field))]
        return []

    def _cut(self, pos: int) -> None:
        if self._role is not None and pos > self._seg:
            self._out.append((self._role, self._view[self._seg : pos]))
        self._seg = pos

    def _start(self, role: str | None, pos: int) -> None:
        self._cut(pos)
        self._role = role

    def _expect(self, state: str, n: int) -> None:
        self._state, self._need = state, n

    def _on_field(self, field: bytes, pos: int) -> None:
        value = int.from_bytes(field, "little")
        state = self._state
        if state == "magic":
            if value == _ZSTD_MAGIC:
                role = "zstd"
                self._expect("descriptor", 1)
            elif value & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                role = "skippable"
                self._expect("skippable-size", 4)
            else:
                role = "junk"
                self.error = f"no zstd frame at compressed offset {self._field_end - 4}"
            self._out.append((role, field))  # the magic itself, held until now
            self._role, self._seg, self._blocks = role, pos, 0
        elif state == "skippable-size":
            self.skippable_count += 1
            if len(self.skippable) < 10:
                self.skippable.append((self._field_end - 8, value))
            self._after_header_skip(value, "skippable", pos)
        elif state == "descriptor":
            fcs_flag, single = value >> 6, (value >> 5) & 1
            if value & 0x08:
                self.error = "zstd frame header has its reserved bit set"
                return
            self._checksum = bool(value & 0x04)
            dict_len = (0, 1, 2, 4)[value & 0x03]
            fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
            rest = (0 if single else 1) + dict_len + fcs_len
            self._after_header_skip(rest, "block-header", pos)
        elif state == "block-header":
            last, block_type, size = value & 1, (value >> 1) & 3, value >> 3
            if block_type == 3:
                self.error = "zstd block of reserved type"
                return
            self._last = bool(last)
            self._after_header_skip(1 if block_type == 1 else size, "block-end", pos)

    def _after_header_skip(self, n: int, then: str, pos: int) -> None:
        self._then = then
        if n:
            self._expect("skip", n)
        else:
            self._after_skip(pos)

    def _after_skip(self, pos: int) -> None:
        then = self._then
        if then == "skippable":
            self._start(None, pos)
            self._expect("magic", 4)
        elif then == "block-header":
            self._expect("block-header", 3)
        elif then == "block-end":
            self._blocks += 1
            if self._blocks % BLOCKS_PER_PIECE == 0:
                self._cut(pos)  # bounds what one piece decodes to
            if not self._last:
                self._expect("block-header", 3)
            elif self._checksum:
                self._start("checksum", pos)
                self._then = "frame-end"
                self._expect("skip", 4)
            else:
                self._frame_done(pos)
        elif then == "frame-end":
            self._frame_done(pos)

    def _frame_done(self, pos: int) -> None:
        self.frames += 1
        self._start(None, pos)
        self._expect("magic", 4)
