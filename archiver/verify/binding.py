"""Every payload file bound to a signed event, checked from the archive alone.

A seal signs, before the bag is closed, a PayloadDeclared event listing each
payload file's path, size and SHA-256; it sits in the archive's own
`opsledger/events.jsonl`. This stage compares the bytes the verifier read
(their digests, recomputed) with that declaration, file by file, and with
what earlier signed events recorded of the same files: a script's log as its
run recorded it when it ended, a redacted copy as its redaction recorded it.
So a payload file changed and the bag's manifests regenerated (bagit.py does
that in one command) is named here, with the event that says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from eventsourcing.utils import TopicError
from opsledger.archiver.verify.bagcheck import VerifiedFile
from opsledger.archiver.verify.identity import EVENTS, decode_rows
from opsledger.domain.persistence import CanonicalJSONTranscoder, PydanticMapper
from opsledger.domain.ticket import Ticket

MAX_FINDINGS = 100


def binding_findings(tag_files: Mapping[str, bytes], files: Mapping[str, VerifiedFile]) -> list[str]:
    """One line per payload file whose bytes no signed event vouches for."""
    events_file = tag_files.get(EVENTS)
    if events_file is None:
        return []
    mapper = PydanticMapper(transcoder=CanonicalJSONTranscoder())
    try:
        rows = list(decode_rows(mapper, events_file))
    except (ValueError, KeyError, TypeError, AttributeError, TopicError, RecursionError) as exc:
        return [f"binding: the archived events cannot be read: {exc}"]
    prefix = "data/"  # the verifier's paths are relative to the bag's top directory
    archived = {path.removeprefix(prefix): f.sha256 for path, f in files.items()
                if path.startswith(prefix)}
    declared = [(where, e) for where, _, e in rows if isinstance(e, Ticket.PayloadDeclared)]
    if not declared:
        return ["binding: the archive declares no payload in a signed event "
                "(sealed before payload declarations)"]
    where, declaration = declared[-1]
    findings = _against_declaration(archived, {f["path"]: f["sha256"] for f in declaration.files},
                                    where)
    findings += _against_runs(archived, rows)
    if len(findings) > MAX_FINDINGS:
        findings = findings[:MAX_FINDINGS] + [f"binding: {len(findings) - MAX_FINDINGS} more"]
    return findings


def _against_declaration(archived: dict[str, str], declared: dict[str, str],
                         where: str) -> list[str]:
    out = []
    for path in sorted(set(archived) | set(declared)):
        if path not in declared:
            out.append(f"binding: data/{path} is in the archive but not in the payload "
                       f"declared at {where}")
        elif path not in archived:
            out.append(f"binding: data/{path} was declared at {where} but is not in the archive")
        elif archived[path] != declared[path]:
            out.append(f"binding: data/{path} has sha256 {archived[path]}, the payload declared "
                       f"at {where} says {declared[path]}")
    return out


def _against_runs(archived: dict[str, str], rows: list[tuple[str, dict, Any]]) -> list[str]:
    """A script's log as its run recorded it at its end (or its redacted copy), a
    metrics snapshot as recorded when it was taken."""
    logs: dict[str, str] = {}  # run id -> log file name
    expected: dict[str, tuple[str, str]] = {}  # file name -> (sha256, where)
    for where, _, event in rows:
        if isinstance(event, Ticket.CommandStarted):
            logs[event.run_id] = PurePosixPath(str(event.log_path).replace("\\", "/")).name
        elif isinstance(event, Ticket.CommandFinished) and event.run_id in logs:
            expected[logs[event.run_id]] = (event.log_sha256, where)
        elif isinstance(event, Ticket.PayloadRedacted):
            expected[event.file] = (event.redacted_sha256, where)
        elif isinstance(event, Ticket.MetricsSnapshotTaken):
            expected[event.file] = (event.sha256, where)
    return [
        f"binding: data/{name} has sha256 {archived[name]}, the event at {where} recorded {sha}"
        for name, (sha, where) in sorted(expected.items())
        if name in archived and archived[name] != sha
    ]
