"""Extract a bag ``.tar.zst`` for auditors, under the verifier's rules.

Extraction *is* a verification pass with a sink attached: hostile members
are reported and never written, and the returned report says whether what
was written is intact. Every path is opened relative to a directory file
descriptor with ``O_NOFOLLOW``, components one by one, so nothing can be
written outside ``dest_dir`` even if someone plants a symlink there during
the run. Files are created with ``O_EXCL``: nothing pre-existing is replaced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, cast

from opsledger.archiver.errors import ExtractError
from opsledger.archiver.tarscan import TarMember
from opsledger.archiver.verify.verifier import (
    DEFAULT_MAX_DECOMPRESSED,
    DEFAULT_MAX_RATIO,
    ArchiveVerifier,
    VerifyProgress,
    VerifyReport,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


class _SafeWriter:
    def __init__(self, dest_fd: int) -> None:
        self._dest_fd = dest_fd

    def _dir_fd(self, parts: tuple[str, ...]) -> int:
        fd = os.dup(self._dest_fd)
        try:
            for part in parts:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except OSError as exc:
            os.close(fd)
            raise ExtractError(f"cannot create directory {'/'.join(parts)!r}: {exc.strerror}") from None
        return fd

    def directory(self, parts: tuple[str, ...], member: TarMember) -> None:
        os.close(self._dir_fd(parts))

    def open_file(self, parts: tuple[str, ...], member: TarMember) -> object:
        parent = self._dir_fd(parts[:-1])
        mode = 0o755 if member.mode & 0o111 else 0o644
        try:
            return os.open(parts[-1], _FILE_FLAGS, mode, dir_fd=parent)
        except OSError as exc:
            raise ExtractError(f"cannot create {'/'.join(parts)!r}: {exc.strerror}") from None
        finally:
            os.close(parent)

    def write(self, handle: object, data: memoryview) -> None:
        fd = cast(int, handle)
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError as exc:
            raise ExtractError(f"writing an extracted file failed: {exc.strerror}") from None

    def close_file(self, handle: object, member: TarMember) -> None:
        fd = cast(int, handle)
        try:
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)


def extract_safe(
    stream: BinaryIO,
    dest_dir: Path,
    *,
    detached_manifest: bytes | None = None,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    max_ratio: float = DEFAULT_MAX_RATIO,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    """Verify ``stream`` and write its admitted members under ``dest_dir``.

    ``dest_dir`` must be missing or an empty directory (not a symlink).
    Members failing a checksum are still written so auditors can inspect
    them; check ``report.ok`` before trusting the tree.
    """
    dest = os.fspath(dest_dir)
    try:
        os.mkdir(dest, 0o755)
    except FileExistsError:
        if os.path.islink(dest) or not os.path.isdir(dest):
            raise ExtractError(f"destination {dest!r} is not a plain directory") from None
        if os.listdir(dest):
            raise ExtractError(f"destination {dest!r} is not empty") from None
    except OSError as exc:
        raise ExtractError(f"cannot create destination {dest!r}: {exc.strerror}") from None
    dest_fd = os.open(dest, _DIR_FLAGS)
    try:
        verifier = ArchiveVerifier(
            detached_manifest=detached_manifest,
            max_decompressed=max_decompressed,
            max_ratio=max_ratio,
            progress=progress,
            sink=_SafeWriter(dest_fd),
        )
        return verifier.run(stream)
    finally:
        os.close(dest_fd)
