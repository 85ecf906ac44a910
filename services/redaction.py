"""Redacted payload files on the record, committed to with the desk's key.

A payload file archived redacted is put on the record (`PayloadRedacted`)
with its redacted copy's sha256 and a keyed commitment to its original
(`original_hmac`: HMAC-SHA256 under the desk's redaction key, which stays
beside the store and is never archived): the archive holds the redacted
copy, so a plain digest of the original beside it would let anyone test
guesses of the secret. Whoever holds the key proves which original it was.

A log whose run recorded it keyed (it held a secret when its script ended,
`services.scripts`) is compared by the same HMAC. A log whose plain sha256
a run recorded before its secret was known can only be linked to its run by
that digest: its redaction keeps `original_sha256`, and the user is warned
that the record already allows guessing it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.archiver.secrets.redact import Redaction
from opsledger.domain.archival import keyed_logs, recorded_logs
from opsledger.domain.runbook import Role
from opsledger.services.files import file_digest
from opsledger.services.recorded import COMMITMENT

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def file_commitment(services: Services, path: Path) -> str:
    """The keyed commitment to a file's bytes ("hmac-sha256:<hex>")."""
    mac = hmac.new(services.redaction_key, digestmod=hashlib.sha256)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            mac.update(chunk)
    return COMMITMENT + mac.hexdigest()


def log_digests(services: Services, ticket: Any, session_dir: Path,
                files: Iterable[str]) -> dict[str, str]:
    """Each recorded log's digest as read now, the way its run recorded it:
    plain sha256, or the keyed commitment for a log recorded keyed."""
    present, keyed = set(files), keyed_logs(ticket)
    return {
        name: (file_commitment(services, session_dir / name) if name in keyed
               else file_digest(session_dir / name)[0])
        for name, _, _ in recorded_logs(ticket)
        if name in present
    }


def record_redactions(services: Services, key: str, redactions: list[Redaction], *,
                      session_dir: Path, actor: str, role: Role | None,
                      notify: Callable[[str], None]) -> None:
    """Puts each redaction on the record before the redacted copies are sealed."""
    ticket = services.app.get_ticket(key)
    plain = {name: digest for name, digest, _ in recorded_logs(ticket)
             if digest is not None and not digest.startswith(COMMITMENT)}
    for r in redactions:
        if plain.get(r.path) == r.original_sha256:
            notify(f"opsledger: warning: {r.path}: its run recorded the plain sha256 of the "
                   "original before the secret in it was known; with the redacted copy, that "
                   "digest lets whoever reads the archive test guesses of the secret: rotate it")
            original = {"original_sha256": r.original_sha256}
        else:
            original = {"original_hmac": file_commitment(services, session_dir / r.path)}
        services.app.record_redaction(
            key,
            file=r.path,
            redacted_sha256=r.redacted_sha256,
            findings=[{"kind": f.kind, "line": f.line} for f in r.findings],
            actor=actor,
            role=role,
            **original,
        )


def redaction_document(*, file: str, redacted_sha256: str, findings: Iterable[Any],
                       original_hmac: str | None = None,
                       original_sha256: str | None = None) -> dict[str, Any]:
    """One redaction as `archive build --json` shows it."""
    found = [f if isinstance(f, dict) else {"kind": f.kind, "line": f.line} for f in findings]
    return {
        "file": file,
        **({"original_hmac": original_hmac} if original_hmac else {}),
        **({"original_sha256": original_sha256} if original_sha256 else {}),
        "redacted_sha256": redacted_sha256,
        "kinds": sorted({f["kind"] for f in found}),
        "lines": [f["line"] for f in found],
    }
