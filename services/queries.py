"""The read side: tickets, a ticket's timeline and a flag's history, from the
views caught up to the head of the log first (progress: each catch-up batch)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import INCOMPLETE_LOG as INCOMPLETE_LOG  # for the CLI's table
from opsledger.domain.runbook import LIVE_FLAG
from opsledger.services.views import ProgressCallback, fresh_reader

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def ticket_document(
    services: Services,
    key: str,
    *,
    as_of: datetime | None = None,
    at_position: int | None = None,
    progress: ProgressCallback | None = None,
    with_flag: bool = False,
) -> dict[str, Any]:
    """Ticket `key` as it stands; or, given `as_of`/`at_position`, as it stood
    then (its own events replayed up to that moment, from the timeline view).

    `with_flag` adds `live_enabled_recorded`, the flag as `flag get` reads it
    now (the human view shows it; the --json document stays as it was)."""
    if as_of is None and at_position is None:
        document = fresh_reader(services, ["tickets"], progress=progress).ticket(key)
        unfinished = [c for c in document["commands"] if c["outcome"] is None]
        if unfinished:  # is each one's recorder still there? ("gone": abandoned)
            from opsledger.services.scripts import recorder_states  # the runner: only then

            states = recorder_states(services, key)
            for command in unfinished:
                command["recorder"] = states.get(command["run_id"], "unknown")
        if with_flag:  # what `flag get live.enabled` says now, beside what a run observed
            recorded = services.log.flag_value(LIVE_FLAG)
            document["live_enabled_recorded"] = None if recorded is None else recorded == "true"
        return document
    reader = fresh_reader(services, ["timeline"], progress=progress)
    return reader.ticket_as_of(key, position=at_position, at=as_of)


def ticket_rows(
    services: Services,
    *,
    status: str | None = None,
    strategy: str | None = None,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Every ticket with its status, environments and breach count, oldest first."""
    reader = fresh_reader(services, ["tickets"], progress=progress)
    return reader.tickets(status=status, strategy=strategy, limit=limit)


def ticket_timeline(
    services: Services,
    key: str,
    *,
    signatures: bool = True,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Every event of ticket `key` (flag changes and shift steps included), in
    log order; each signed event with its `signer`, `key` (SHA256 fingerprint),
    `signature` (armored SSHSIG) and `signed` (the exact signed bytes, base64),
    read from the stored events themselves, so that anyone can check it with
    `ssh-keygen -Y verify` against `opsledger roster allowed-signers`."""
    entries = fresh_reader(services, ["timeline"], progress=progress).timeline(key)
    if not signatures:  # the view alone: the stored events are read only to show them
        return {"ticket": key, "events": entries}
    app = services.ledger_app
    own = {e.originator_version: e for e in app.ticket_events(key)}
    others = _events_at(app, [e["position"] for e in entries if not e["own"]])
    for entry in entries:
        event = own.get(entry["version"]) if entry["own"] else others.get(entry["position"])
        signature = getattr(event, "signature", None)
        if signature is not None:
            entry.update(signer=signature.signer, key=signature.key,
                         signature=signature.signature, signed=signature.signed)
    return {"ticket": key, "events": entries}


SPAN_GAP = 64  # read past at most this many rows of other records rather than query again


def _events_at(app: Any, positions: list[int]) -> dict[int, Any]:
    """The stored events at these log positions (other records', shown on the
    ticket), read in spans of nearby positions rather than one query each: a
    ticket's flag changes sit among its own events in the log."""
    wanted = sorted(set(positions))
    wanted_set = set(wanted)
    found: dict[int, Any] = {}
    i = 0
    while i < len(wanted):
        j = i
        while j + 1 < len(wanted) and wanted[j + 1] - wanted[j] <= SPAN_GAP:
            j += 1
        start, stop = wanted[i], wanted[j]
        for row in app.recorder.select_notifications(start=start, limit=stop - start + 1,
                                                     stop=stop):
            if row.id in wanted_set:
                found[row.id] = app.mapper.to_domain_event(row)
        i = j + 1
    return found


def flag_history(
    services: Services, name: str, *, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Every recorded change of flag `name`, oldest first."""
    changes = fresh_reader(services, ["flags"], progress=progress).flag_history(name)
    return {"flag": name, "changes": changes}
