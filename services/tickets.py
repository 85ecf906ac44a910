"""A change ticket's life: opening it, and closing it (pruning its session folder
once the verified archive is known to hold every file of it)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import Env, Role
from opsledger.services.errors import InvalidRequest, Refused
from opsledger.services.files import file_digest
from opsledger.services.sessions import default_session_dir

if TYPE_CHECKING:
    from opsledger.archiver.detached import DetachedManifest
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def open_ticket(
    services: Services,
    key: str,
    *,
    strategy: str,
    env: Env,
    artifact_digest: str,
    title: str,
    session_date: date | None,
    actor: str,
    role: Role | None,
) -> dict[str, Any]:
    """Opens ticket `key`; returns what was opened (its id and session date)."""
    app = services.app
    ticket_id = app.open_ticket(
        key=key,
        strategy=strategy,
        env=env,
        artifact_digest=artifact_digest,
        actor=actor,
        role=role,
        title=title,
        session_date=session_date,
    )
    ticket = app.get_ticket(key)
    return {
        "ticket": key,
        "id": ticket_id,
        "strategy": strategy,
        "env": env.value,
        "session_date": ticket.session_date,
    }


@dataclass(frozen=True)
class ClosedTicket:
    key: str
    pruned: Path | None  # the session folder removed, if --prune


def close_ticket(
    services: Services,
    key: str,
    *,
    prune: bool,
    session_dir: Path | None,
    store_uri: str | None,
    actor: str,
    role: Role | None,
    notify: Notify = _silent,
) -> ClosedTicket:
    """Closes ticket `key`; refused until its session archive is sealed and verified.

    With `prune` the session folder is removed first, but only after checking
    that every file in it is in the verified archive with the same SHA-256.
    """
    from opsledger.services.scripts import reap_abandoned  # the runner: only to record

    app = services.app
    if reap_abandoned(services, key, actor=actor, role=role, session_dir=session_dir,
                      notify=notify):
        notify(f"opsledger: {key}: the archive must say the abandoned run's end is unknown")
    ticket = app.get_ticket(key)
    ticket.close(actor=actor, role=role, pruned=prune)  # the rules, on a copy never saved
    folder = None
    if prune:
        folder = session_dir or default_session_dir(ticket.session_date, key)
        latest = ticket.archives[-1]
        store, name = services.store_and_name(latest["location"], store_uri)
        manifest = store.get_manifest(name)
        if manifest is None:
            raise Refused(f"{key}: the archive's manifest is missing; not pruning")
        from opsledger.archiver.detached import DetachedManifest  # closing only: not at start

        unsafe = unarchived_files(folder, DetachedManifest.from_bytes(manifest))
        if unsafe:
            raise Refused(
                f"{key}: not pruning {folder}: not in the archive as sealed: " + ", ".join(unsafe)
            )
        shutil.rmtree(folder)
        notify(f"opsledger: removed {folder}")
    app.close_ticket(key, actor=actor, role=role, pruned=prune)
    return ClosedTicket(key, folder)


def unarchived_files(folder: Path, manifest: DetachedManifest) -> list[str]:
    """Files of the folder that the archive does not hold byte for byte."""
    if not folder.is_dir():
        raise InvalidRequest(f"{folder}: no such session folder")
    archived = {f.path.removeprefix("data/"): f.sha256 for f in manifest.files}
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if archived.get(rel) != file_digest(path)[0]:
            found.append(rel)
    return found
