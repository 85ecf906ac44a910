"""Archive and close (runbook section 6): what a redaction must show, which
archive a verification may name, and when a ticket may close.

Each rule is a function over the ticket's recorded archives that raises a
named `DomainError` or answers a plain value; the aggregate calls them before
it records anything. The functions that take the ticket itself answer with
what to record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from opsledger.domain.errors import ArchiveRequired, InvalidInput
from opsledger.domain.ticket import runs
from opsledger.domain.ticket.inputs import HMAC_SHA256, SHA256_HEX, validate_text


class TicketArchives(Protocol):
    """The part of a ticket's state these rules read."""

    key: str
    archives: list[dict[str, Any]]
    redactions: list[dict[str, Any]]
    commands: dict[str, dict[str, Any]]


def redaction_findings(
    key: str,
    *,
    file: str,
    redacted_sha256: str,
    findings: Iterable[dict[str, Any]],
    original_hmac: str | None = None,
    original_sha256: str | None = None,
) -> list[dict[str, Any]]:
    """The findings to record ({"kind", "line"}, never the secret), once the
    redaction is shown to name two different files: the redacted copy by its
    sha256, the original by a keyed commitment ("hmac-sha256:<hex>") or, for
    a log whose plain hash its run already recorded, by that sha256."""
    validate_text(key, "file name", file)
    if (original_hmac is None) == (original_sha256 is None):
        raise InvalidInput(key, "a redaction names its original by one digest: hmac or sha256")
    if original_hmac is not None and not HMAC_SHA256.fullmatch(original_hmac):
        raise InvalidInput(key, "a redaction's original_hmac is hmac-sha256:<64 hex>")
    if not SHA256_HEX.fullmatch(redacted_sha256) or (
            original_sha256 is not None and not SHA256_HEX.fullmatch(original_sha256)):
        raise InvalidInput(key, "a redaction needs the sha256 hex of the files it names")
    if original_sha256 == redacted_sha256:
        raise InvalidInput(key, f"{file}: a redacted copy must differ from its original")
    cleaned = []
    for f in findings:
        kind, line = f.get("kind"), f.get("line")
        if not isinstance(kind, str) or not isinstance(line, int) or line < 1:
            raise InvalidInput(key, "each redaction finding needs a kind and a line")
        cleaned.append({"kind": validate_text(key, "kind", kind, limit=64), "line": line})
    if not cleaned:
        raise InvalidInput(key, f"{file}: a redaction without findings")
    return cleaned


def already_redacted(redactions: Iterable[dict[str, Any]], file: str, original: str,
                     redacted_sha256: str) -> bool:
    return (file, original, redacted_sha256) in {
        (r["file"], r.get("original_hmac") or r.get("original_sha256"), r["redacted_sha256"])
        for r in redactions
    }


def redaction(
    ticket: TicketArchives,
    *,
    file: str,
    redacted_sha256: str,
    findings: Iterable[dict[str, Any]],
    original_hmac: str | None = None,
    original_sha256: str | None = None,
) -> dict[str, Any] | None:
    """The redaction to record, once `redaction_findings` accepts it; None
    when this very redaction is already recorded (a rerun)."""
    digests = {"original_hmac": original_hmac, "original_sha256": original_sha256,
               "redacted_sha256": redacted_sha256}
    cleaned = redaction_findings(ticket.key, file=file, **digests, findings=findings)
    original = original_hmac or original_sha256 or ""
    if already_redacted(ticket.redactions, file, original, redacted_sha256):
        return None
    return {"file": file, **digests, "findings": cleaned}


def require_sealed(key: str, archives: Iterable[dict[str, Any]], archive_sha256: str) -> None:
    if not any(a["archive_sha256"] == archive_sha256 for a in archives):
        raise ArchiveRequired(
            key, f"archive {archive_sha256[:12]}… was never sealed for this ticket"
        )


def verification(
    ticket: TicketArchives, *, location: str, archive_sha256: str, ok: bool, failures: list[str]
) -> dict[str, Any]:
    """The verification to record, once it names an archive sealed for this ticket."""
    require_sealed(ticket.key, ticket.archives, archive_sha256)
    outcome = {"ok": ok, "failures": list(failures)}
    return {"location": location, "archive_sha256": archive_sha256, **outcome}


def closing_archive(key: str, archives: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The archive a ticket closes on: the latest, sealed and verified."""
    latest = archives[-1] if archives else None
    if latest is None:
        raise ArchiveRequired(key, "cannot close: no archive of this session has been sealed")
    if latest["verified"] is not True:
        state = "failed verification" if latest["verified"] is False else "is not verified"
        raise ArchiveRequired(
            key, f"cannot close: the latest archive {state}; run archive verify first"
        )
    return latest


def closing(ticket: TicketArchives, *, pruned: bool) -> dict[str, Any]:
    """The close to record: on the archive `closing_archive` allows, once no
    run is still running."""
    runs.require_ended(ticket.key, ticket.commands)
    latest = closing_archive(ticket.key, ticket.archives)
    return {"archive_sha256": latest["archive_sha256"], "pruned": pruned}


def payload_files(key: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A seal's payload declaration, checked: relative paths, once each, sizes
    and SHA-256 digests, sorted by path."""
    seen: set[str] = set()
    out = []
    for f in files:
        path, size, sha = f.get("path"), f.get("size"), f.get("sha256")
        if (not isinstance(path, str) or not path or path.startswith("/") or path in seen
                or not isinstance(size, int) or size < 0
                or not isinstance(sha, str) or not SHA256_HEX.fullmatch(sha)):
            raise InvalidInput(key, f"not a payload file entry: {f!r:.200}")
        seen.add(path)
        out.append({"path": path, "size": size, "sha256": sha})
    return sorted(out, key=lambda f: f["path"])
