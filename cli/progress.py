"""A progress bar on stderr, shown only on a terminal (never under --json)."""

from __future__ import annotations

import sys
import time
from types import TracebackType


class ProgressBar:
    def __init__(self, label: str, *, enabled: bool = True, interval: float = 0.2) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def update(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        if total:
            width = 30
            filled = min(width, int(width * done / total))
            text = (
                f"{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{done / 2**20:,.1f}/{total / 2**20:,.1f} MiB"
            )
        else:
            text = f"{self.label} {done / 2**20:,.1f} MiB"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()
        self._shown = True

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
