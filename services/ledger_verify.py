"""`ledger verify`: the store's own integrity, then the log recomputed and held
against every checkpoint that left the database.

Those are: the stored checkpoints (which an insider can rewrite), the ones
each seal published beside its archive (`checkpoint-<size>.txt`), and the one
inside every sealed archive in the store (`opsledger/checkpoint.txt`). The
last survive whoever deletes the published files from a folder store: an
archive is the one object a desk must keep, and reading its checkpoint needs
no more than decompressing it under the verifier's caps (archiver.verify.
tag_reader: streaming, O(caps) memory, stopped at the checkpoint). With a
trust file, the log keys are the auditor's (a rotated-out key only up to its
`until-tree`) and every checkpoint outside the database must carry the
file's witness quorum.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.archiver.stores.errors import StoreError
from opsledger.archiver.verify.proof_format import CHECKPOINT
from opsledger.archiver.verify.tag_reader import read_tag_files
from opsledger.projections import ProjectionError
from opsledger.projections.ledger_audit import Tamper, audit
from opsledger.services.checkpoints import published_notes
from opsledger.services.ledger import LedgerProgress, Notify, _silent, caught_up, ledger_errors
from opsledger.services.log_keys import own_verifiers
from opsledger.services.trust import Trust, note_quorum_findings, read_trust

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

ARCHIVE_SUFFIX = ".tar.zst"
ARCHIVE_TAGS = frozenset({CHECKPOINT})


def store_integrity(services: Services) -> list[str]:
    """The databases' own integrity check, one line per damaged store (none: sound).

    SQLite: `PRAGMA integrity_check` of events.sqlite and views.sqlite, each
    opened read-only (a page no walk of the log reads, such as an index, is
    checked too). PostgreSQL: every event row read whole."""
    if services.settings.database_url:
        from opsledger.projections.postgres import PostgresViewStore

        store = services.projector.store
        table = getattr(services.ledger_app.recorder, "events_table_name", None)
        if not isinstance(store, PostgresViewStore) or table is None:
            return []
        return [f"PostgreSQL events: {line}" for line in store.read_every_event(table)]
    from opsledger.projections.sqlite import integrity_problems

    events = Path(services.settings.event_store_env()["SQLITE_DBNAME"])
    damaged = []
    for path in (events, services.settings.home / "views.sqlite"):
        problems = integrity_problems(path)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            damaged.append(f"{path.name} fails SQLite's integrity check: {problems[0]}{more}")
    return damaged


def _damaged(lines: list[str]) -> dict[str, Any]:
    return {
        "ok": False,
        "integrity": lines,
        "log_events": None,
        "log_root": None,
        "tree_size": None,
        "position": None,
        "checkpoints_checked": 0,
        "published_checked": 0,
        "archives_checked": 0,
        "independent": 0,
        "signatures_checked": False,
        "findings": [{"kind": "integrity", "position": None, "detail": d} for d in lines],
    }


def archived_notes(services: Services, destination: str | None,
                   ) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(label, note) of the checkpoint inside each sealed archive at
    `destination` (None: the archive store), and one line per archive whose
    checkpoint could not be read. An archive sealed without a log key carries
    none, and is passed over."""
    store = services.archive_store(destination)
    notes, unreadable = [], []
    for info in store.list():
        if not info.name.endswith(ARCHIVE_SUFFIX) or not info.archive_present:
            continue
        try:
            with store.open_archive(info.name) as stream:
                read = read_tag_files(stream, ARCHIVE_TAGS)
        except (StoreError, OSError) as e:
            unreadable.append(f"{info.name}: its checkpoint could not be read ({e})")
            continue
        note = read.found.get(CHECKPOINT)
        if note is not None:
            notes.append((f"the checkpoint in {info.name}", note))
        elif read.problem is not None:
            unreadable.append(f"{info.name}: its checkpoint could not be read ({read.problem})")
    return notes, unreadable


def verify_ledger(
    services: Services,
    *,
    destinations: Sequence[str] = (),
    public_key: str | None = None,
    trust: Path | None = None,
    key_file: Path | None = None,
    progress: LedgerProgress | None = None,
    notify: Notify = _silent,
) -> dict[str, Any]:
    """Checks the store's own integrity first (a damaged store is a failure,
    and nothing read from it is trusted); then recomputes the tree from the log
    and checks it against the stored leaves and every stored, published and
    archived checkpoint (by default those in the archive store, where every
    seal writes both); `ok` is false on any finding."""
    trusted = read_trust(public_key, trust) if trust is not None else Trust()
    verifiers = list(trusted.logs) or own_verifiers(services, public_key, key_file, notify)
    damaged = store_integrity(services)
    if damaged:
        return _damaged(damaged)
    try:
        caught_up(services, progress)
    except ProjectionError as e:
        notify(f"opsledger: warning: the ledger could not catch up ({e}); checking what it holds")
    if not verifiers:
        notify("opsledger: warning: no public key; checkpoint signatures are not checked")
    published: list[tuple[str, bytes]] = []
    archived: list[tuple[str, bytes]] = []
    unreadable: list[str] = []
    for destination in destinations or [None]:  # by default, where the seals publish
        found = published_notes(services, destination)
        in_archives, bad = archived_notes(services, destination)
        if not found and not in_archives and destinations:
            notify(f"opsledger: warning: no published checkpoint (checkpoint-<size>.txt) "
                   f"and no sealed archive at {destination}")
        published += found
        archived += in_archives
        unreadable += bad
    with ledger_errors():
        report = audit(services.ledger, [*published, *archived], verifiers)
    findings = list(report.findings)
    findings += [Tamper("archive", None, line) for line in unreadable]
    for label, note in [*published, *archived]:  # witnesses: what the trust file requires
        findings += [Tamper("witness-quorum", None, line.removeprefix("witness-quorum: "))
                     for line in note_quorum_findings(label, note, trusted)]
    head = report.ledger
    return {
        "ok": not findings,
        "integrity": [],
        "log_events": report.log_events,
        "log_root": report.log_root.hex(),
        "tree_size": head.size if head else None,
        "position": head.position if head else None,
        "checkpoints_checked": report.checkpoints,
        "published_checked": len(published),
        "archives_checked": len(archived),
        # Checkpoints kept outside the database: without one, nothing here was
        # checked against anything an insider with the database could not rewrite.
        "independent": len(published) + len(archived),
        "signatures_checked": report.signatures_checked,
        "witness_quorum": trusted.quorum or None,
        "findings": [
            {"kind": f.kind, "position": f.position, "detail": f.detail} for f in findings
        ],
    }
