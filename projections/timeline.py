"""The timeline view: every event of a ticket in global order, one line each.

A ticket's own events are joined by the flag changes and shift steps that
name the ticket, since the runbook records those "in the change ticket" too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from opsledger.domain.ticket import ticket_id
from opsledger.projections.facts import Fact, micros
from opsledger.projections.schema import Column, Table
from opsledger.projections.view import Rows, View

TICKET = "opsledger.ticket."
FLAG_CHANGED = "opsledger.flag.Changed"
SHIFT_STEP = "opsledger.shift.StepLogged"
TABLE = "view_timeline"
SUMMARY_LIMIT = 240

COLUMNS = (
    Column("position", "int", nullable=False),
    Column("subject_id", "text", nullable=False),
    Column("originator_id", "text", nullable=False),
    Column("version", "int", nullable=False),
    Column("at", "int", nullable=False),
    Column("actor", "text"),
    Column("role", "text"),
    Column("kind", "text", nullable=False),
    Column("summary", "text", nullable=False),
)


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "-"


def _flag(value: Any) -> str:
    return "unknown" if value is None else ("true" if value else "false")


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "?"
    return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _opened(d: Mapping[str, Any]) -> str:
    title = f": {d['title']}" if d.get("title") else ""
    return (
        f"opened for {d['strategy']} on {d['env']}, session {d['session_date']}, "
        f"artifact {_short(d['artifact_digest'].partition(':')[2])}{title}"
    )


def _finished(d: Mapping[str, Any]) -> str:
    how = {
        "exited": f"exited {d['exit_code']}",
        "failed-to-start": "failed to start",
        "interrupted": "was interrupted",
    }.get(d["outcome"], d["outcome"])
    digest = "hmac-sha256 (keyed: the log held a secret)" if d.get("log_digest") else "sha256"
    return f"{d['command']} {how} (run {d['run_id']}, log {digest} {_short(d['log_sha256'])})"


def _gate(d: Mapping[str, Any]) -> str:
    if d["decision"] == "go":
        return "gate GO"
    return "gate NO-GO, missing: " + ", ".join(d["missing"])


def _breach(d: Mapping[str, Any]) -> str:
    unit = d.get("unit") or ""
    rule = f" ({d['comparison']})" if d.get("comparison") else ""
    ref = f" [{d['incident_ref']}]" if d.get("incident_ref") else ""
    return (
        f"{d['severity']} SLA breach on {d['metric']}: observed {_number(d['observed'], unit)}"
        f"{rule}, escalated to {d['escalation']}{ref}"
    )


def _sealed(d: Mapping[str, Any]) -> str:
    gaps = f", missing: {', '.join(d['missing'])}" if d.get("missing") else ""
    return (
        f"archive sealed at {d['location']} (sha256 {_short(d['archive_sha256'])}, "
        f"{d['file_count']} files{gaps})"
    )


def _verified(d: Mapping[str, Any]) -> str:
    if d["ok"]:
        return f"archive {_short(d['archive_sha256'])} verified"
    return f"archive {_short(d['archive_sha256'])} FAILED verification: " + "; ".join(d["failures"])


_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    TICKET + "Opened": _opened,
    TICKET + "EvidenceAttached": lambda d: (
        f"evidence for {d['check']}: {d['path']} ({d['size']} B, sha256 {_short(d['sha256'])}, "
        f"id {d['evidence_id']})"
    ),
    TICKET + "EvidenceSuperseded": lambda d: f"evidence {d['evidence_id']} superseded: {d['reason']}",
    TICKET + "ApprovalGiven": lambda d: f"{d['approval']} approved ({d['reference']})",
    TICKET + "GateEvaluated": _gate,
    TICKET + "Downgraded": lambda d: (
        f"deploy downgraded from {d['requested_env']} to {d['effective_env']} "
        f"(run {d['run_id']}), missing: {', '.join(d['missing'])}"
    ),
    TICKET + "CommandStarted": lambda d: (
        f"{d['command']} started on {d['env']} (run {d['run_id']})"
        + (f": {d['reason']}" if d.get("reason") else "")
    ),
    TICKET + "CommandFinished": _finished,
    TICKET + "KillSwitchEngaged": lambda d: f"kill switch engaged (run {d['run_id']}): {d['reason']}",
    TICKET + "SessionSettled": lambda d: f"session settled (run {d['run_id']})",
    TICKET + "FlagObserved": lambda d: (
        f"{d['flag']} observed {_flag(d['observed'])}"
        + ("" if d["expected"] is None else f", expected {_flag(d['expected'])}")
    ),
    TICKET + "FlagMismatchDetected": lambda d: (
        f"{d['flag']} MISMATCH: expected {_flag(d['expected'])}, observed {_flag(d['observed'])}"
    ),
    TICKET + "SlaBreachRecorded": _breach,
    TICKET + "SlaBreachResolved": lambda d: (
        f"SLA breach {_short(d['breach_id'])} ended at {d['window_end']}"
        + (f": {d['detail']}" if d.get("detail") else "")
    ),
    TICKET + "PayloadRedacted": lambda d: (
        f"{d['file']} archived redacted ({len(d['findings'])} secret(s)); original "
        + (f"hmac-sha256 {_short(d['original_hmac'][12:])}" if d.get("original_hmac")
           else f"sha256 {_short(d['original_sha256'])}")
        + f", redacted {_short(d['redacted_sha256'])}"
    ),
    TICKET + "MetricsSnapshotTaken": lambda d: (
        f"metrics snapshot {d['file']} ({d['size']} B, sha256 {_short(d['sha256'])}) "
        f"from {d['source']}, {d['since']} .. {d['until']}"
    ),
    TICKET + "ArchiveSealed": _sealed,
    TICKET + "ArchiveVerified": _verified,
    TICKET + "Closed": lambda d: (
        f"closed (archive {_short(d['archive_sha256'])})" + (", pruned" if d.get("pruned") else "")
    ),
    FLAG_CHANGED: lambda d: f"{d['name']}: {d['old'] or 'unset'} -> {d['new']}: {d['reason']}",
    SHIFT_STEP: lambda d: (
        f"shift step {d['step']} logged" + (f": {d['note']}" if d.get("note") else "")
    ),
}


def summary(fact: Fact) -> str:
    """One line for a person; a topic this code does not know is named as it is."""
    render = _SUMMARIES.get(fact.topic)
    try:
        text = render(fact.data) if render else f"{fact.topic} (no summary for this event kind)"
    except (KeyError, TypeError, ValueError):
        text = f"{fact.topic} (fields not as expected)"
    if "\t" in text or "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


_kinds: dict[str, str] = {}


def kind(topic: str) -> str:
    name = _kinds.get(topic)
    if name is None:
        short = topic[len(TICKET) :] if topic.startswith(TICKET) else topic.removeprefix("opsledger.")
        name = _kinds[topic] = short
    return name


_subject_cache: dict[str, str] = {}


def subject_of(ticket_key: str) -> str:
    subject = _subject_cache.get(ticket_key)
    if subject is None:
        if len(_subject_cache) > 100_000:
            _subject_cache.clear()
        subject = _subject_cache[ticket_key] = str(ticket_id(ticket_key))
    return subject


_LINKED = frozenset((FLAG_CHANGED, SHIFT_STEP))


class TimelineView(View):
    name: ClassVar[str] = "timeline"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (
        Table(TABLE, COLUMNS, key=("position",), indexes=(("subject_id", "position"),), append_only=True),
    )

    def wants(self, topic: str) -> bool:
        return topic.startswith(TICKET) or topic in (FLAG_CHANGED, SHIFT_STEP)

    def apply(self, fact: Fact, rows: Rows) -> None:
        d = fact.data
        if fact.topic not in _LINKED:
            subject = fact.originator_id
        else:
            ticket = d.get("ticket")
            if not ticket:
                return
            subject = subject_of(ticket)
        rows.append(
            TABLE,
            (
                fact.position,
                subject,
                fact.originator_id,
                fact.version,
                micros(d["timestamp"]),
                d.get("actor"),
                d.get("role"),
                kind(fact.topic),
                summary(fact),
            ),
        )
