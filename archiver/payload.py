"""The payload: what the session folder holds, listed once in a fixed order.

The scan fixes the order and sizes (tar headers need sizes up front) and
refuses what an audit bundle cannot hold. The bag build reads this plan
(``builder.reader``); the secret scanner and redaction walk the same plan,
so every stage sees exactly the same files.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from opsledger.archiver.errors import BagInputError, SourceReadError


@dataclass(frozen=True)
class PayloadFile:
    rel: str  # POSIX path relative to the session folder
    path: str  # where to read it
    size: int
    mtime: int
    mode: int


@dataclass(frozen=True)
class PayloadPlan:
    files: tuple[PayloadFile, ...]
    directories: tuple[tuple[str, int], ...]  # (rel, mtime), parents first

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _check_name(name: str, where: str) -> None:
    if any("\udc80" <= ch <= "\udcff" for ch in name):
        raise BagInputError(
            f"{os.path.join(where, name)!r}: file name is not valid UTF-8; BagIt manifests cannot name it"
        )


def scan_payload(source_dir: Path) -> PayloadPlan:
    """List the regular files under ``source_dir`` in a stable order.

    Symlinks, devices, fifos and sockets are refused rather than followed or
    skipped: an audit bundle must hold exactly what the folder holds.
    """
    root = str(source_dir)
    if not os.path.isdir(root):
        raise BagInputError(f"session folder {root!r} is not a directory")
    files: list[PayloadFile] = []
    directories: list[tuple[str, int]] = []

    def walk(abs_dir: str, rel_dir: str) -> None:
        try:
            with os.scandir(abs_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise SourceReadError(f"cannot list {abs_dir!r}: {exc.strerror or exc}") from None
        for entry in entries:
            _check_name(entry.name, abs_dir)
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                raise SourceReadError(f"cannot stat {entry.path!r}: {exc.strerror or exc}") from None
            if stat.S_ISDIR(st.st_mode):
                directories.append((rel, int(st.st_mtime)))
                walk(entry.path, rel)
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                files.append(PayloadFile(rel, entry.path, st.st_size, int(st.st_mtime), mode))
            else:
                kind = "symlink" if stat.S_ISLNK(st.st_mode) else "special file"
                raise BagInputError(f"{entry.path!r} is a {kind}; only regular files can be archived")

    walk(root, "")
    return PayloadPlan(tuple(files), tuple(directories))
