"""A progress bar on stderr, shown only on a terminal (never under --json)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services
    from opsledger.services.views import Progress, ViewReader


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


class ViewProgress:
    """The views' catch-up on a terminal: one line, at most five redraws a second."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase in ("catch-up", "rebuild") and now - self._last < 0.2:
            return  # a batch commits every few milliseconds
        self._last = now
        views = ",".join(progress.views)
        if progress.phase in ("index", "swap"):
            text = f"{progress.phase}: {views}"
        else:
            share = 100 * progress.position // progress.head if progress.head else 100
            text = f"{progress.phase} {views}: {progress.position:,}/{progress.head:,} ({share}%)"
        sys.stderr.write(f"\r\033[K{text}")
        sys.stderr.flush()
        self._shown = True

    def __enter__(self) -> ViewProgress | None:
        return self if self.enabled else None

    def __exit__(self, *_: object) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def read_views(services: Services, views: Sequence[str], *, json_output: bool) -> ViewReader:
    """The views caught up (progress on a terminal, never under --json), as a reader."""
    from opsledger.services.views import fresh_reader

    with ViewProgress(enabled=not json_output) as progress:
        return fresh_reader(services, views, progress=progress)


class PhasedProgress:
    """One progress bar per phase of a long use case ("sealing", "verifying")."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: ProgressBar | None = None

    def __call__(self, phase: str, done: int, total: int | None = None) -> None:
        if self._bar is None or self._bar.label != phase:
            self._close()
            self._bar = ProgressBar(phase, enabled=self.enabled)
        self._bar.update(done, total)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> PhasedProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self._close()
