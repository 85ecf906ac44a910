"""Checkpoints published outside the database: each seal writes its signed
checkpoint, create-only, beside its archive (a folder or an Object Lock
bucket), where whoever can rewrite the database cannot rewrite it; `ledger
verify` reads them back and checks the log against every one."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from opsledger.archiver.stores.errors import ArchiveConflict, ArchiveNotFound
from opsledger.projections.ledger_log import StoredCheckpoint

if TYPE_CHECKING:
    from opsledger.archiver.stores.port import ArchiveStore
    from opsledger.services.bootstrap import Services

PUBLISHED = re.compile(r"checkpoint-(0|[1-9][0-9]*)\.txt")
MAX_NOTE = 64 << 10


def publish_to(store: ArchiveStore, checkpoint: StoredCheckpoint) -> str:
    """Writes the checkpoint as `checkpoint-<size>.txt`, create-only: the same
    bytes again are kept, another note of that size is refused."""
    data = checkpoint.note.encode("utf-8")
    put = store.put_archive(
        f"checkpoint-{checkpoint.size}.txt",
        io.BytesIO(data),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return put.location


def publish_checkpoint(store: ArchiveStore, checkpoint: StoredCheckpoint,
                       notify: Callable[[str], None]) -> str | None:
    """A seal's publication: a cosigned checkpoint differs from the one already
    published at its size (a rerun's cosignatures carry new timestamps; or it
    was published before witnesses were asked), so the one there is kept, and
    the new cosignatures are in the archive only."""
    try:
        return publish_to(store, checkpoint)
    except ArchiveConflict:
        notify(f"opsledger: warning: checkpoint-{checkpoint.size}.txt is already published with "
               "other signatures; it is kept, and this checkpoint's cosignatures are in the archive")
        return None


def published_note(store: ArchiveStore, size: int) -> bytes | None:
    """The checkpoint published at `size` in `store`, if any (at most MAX_NOTE bytes read)."""
    try:
        with store.open_archive(f"checkpoint-{size}.txt") as stream:
            return stream.read(MAX_NOTE + 1)
    except ArchiveNotFound:
        return None


def published_notes(services: Services, destination: str | None) -> list[tuple[str, bytes]]:
    """(location, note) of every checkpoint published at `destination` (None:
    the archive store, where every seal publishes its checkpoint)."""
    store = services.archive_store(destination)
    found = []
    for info in store.list():
        if not PUBLISHED.fullmatch(info.name):
            continue
        with store.open_archive(info.name) as stream:
            found.append((info.location, stream.read(MAX_NOTE + 1)))
    return found
