"""A witness's own store: the latest checkpoint it cosigned, per log, in a folder.

One file per origin, `log-<sha256(origin)[:32]>.txt`, holding the signed
checkpoint exactly as cosigned. A write goes to a temporary file in the same
folder, is fsynced, renamed over the old one and the folder fsynced: a crash
leaves the old checkpoint or the new one, never a mix. `locked()` holds a
thread lock and an exclusive `flock` on `.lock`, so that checking the old size
and persisting the new checkpoint are one step even across processes (the
spec's rollback race).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_STATE = 64 << 10


class WitnessStateError(Exception):
    """The state folder is unusable (not writable, an entry unreadable)."""


class WitnessStateDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = self.root / ".lock"
            probe.touch(mode=0o600, exist_ok=True)
        except OSError as e:
            raise WitnessStateError(f"{root}: {e.strerror or e}") from None
        self._thread_lock = threading.Lock()

    def _path(self, origin: str) -> Path:
        digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:32]
        return self.root / f"log-{digest}.txt"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock, open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, origin: str) -> str | None:
        """The stored note for `origin`, or None if none was cosigned yet."""
        path = self._path(origin)
        try:
            with path.open("rb") as f:
                data = f.read(MAX_STATE + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise WitnessStateError(f"{path}: {e.strerror or e}") from None
        if len(data) > MAX_STATE:
            raise WitnessStateError(f"{path}: over {MAX_STATE} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise WitnessStateError(f"{path}: not UTF-8") from None

    def save(self, origin: str, note: str) -> None:
        """Replaces `origin`'s note atomically and durably."""
        path = self._path(origin)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(note.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise WitnessStateError(f"{path}: {e.strerror or e}") from None
