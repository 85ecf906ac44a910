"""The ticket's events: what is stored, field by field.

Each event keeps its explicit `TOPIC` wherever its class is defined, so the
stored record never names a module. The `Ticket` aggregate lists these classes
in its body, and `eventsourcing` derives from each the class it triggers and
stores (`Ticket.Opened`, ...): code that builds or matches events uses those.
Changing a field here changes what is stored: the store-0.1 compatibility test
(tests/integration/test_stored_compat.py) checks that every stored event still
decodes to the same bytes.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from opsledger.domain.model import Aggregate, Created
from opsledger.domain.runbook import Approval, Command, Env, Role, Severity
from pydantic import AwareDatetime

# "abandoned": the process recording the run disappeared before its end was
# recorded; a later command found it gone and recorded the log as it was then.
Outcome = Literal["exited", "failed-to-start", "interrupted", "abandoned"]


class TicketEvent(Aggregate.Event):
    actor: str
    role: Role | None = None


class AuthorisedEvent(TicketEvent):
    """An event the roster must allow; it names the roster version that did,
    so an auditor can replay the check (None: recorded before the roster)."""

    roster_version: int | None = None


class Opened(Created, TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.Opened"
    key: str
    title: str
    strategy: str
    env: Env
    artifact_digest: str
    session_date: date


class EvidenceAttached(AuthorisedEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.EvidenceAttached"
    evidence_id: str
    check: str
    path: str
    sha256: str
    size: int


class EvidenceSuperseded(AuthorisedEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.EvidenceSuperseded"
    evidence_id: str
    reason: str


class ApprovalGiven(AuthorisedEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.ApprovalGiven"
    approval: Approval
    reference: str


class GateEvaluated(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.GateEvaluated"
    decision: Literal["go", "no-go"]
    missing: list[str]


class Downgraded(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.Downgraded"
    run_id: str
    requested_env: Env
    effective_env: Env
    missing: list[str]


class CommandStarted(AuthorisedEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.CommandStarted"
    run_id: str
    command: Command
    argv: list[str]
    env: Env
    log_path: str
    started_at: AwareDatetime
    reason: str = ""
    # The process recording the run (pid, host, boot_id, start_ticks): a later
    # command that finds it gone records the run abandoned. Absent in runs
    # recorded before it was kept.
    runner: dict[str, Any] | None = None
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = AuthorisedEvent.OMIT_WHEN_NONE | {"runner"}


class CommandFinished(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.CommandFinished"
    run_id: str
    command: Command
    outcome: Outcome
    exit_code: int | None
    started_at: AwareDatetime
    finished_at: AwareDatetime
    log_path: str
    # The log's SHA-256, or, when `log_digest` is "hmac-sha256", its HMAC-SHA256
    # under the desk's redaction key: a log that held a secret when its script
    # ended is archived redacted, and a plain hash of the original beside the
    # redacted copy would let anyone test guesses of the secret against it.
    log_sha256: str
    log_bytes: int
    detail: str = ""
    log_digest: Literal["hmac-sha256"] | None = None

    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = TicketEvent.OMIT_WHEN_NONE | {"log_digest"}


class KillSwitchEngaged(AuthorisedEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.KillSwitchEngaged"
    run_id: str
    reason: str


class SessionSettled(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.SessionSettled"
    run_id: str


class FlagObserved(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.FlagObserved"
    run_id: str
    flag: str
    expected: bool | None
    observed: bool | None


class FlagMismatchDetected(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.FlagMismatchDetected"
    run_id: str
    flag: str
    expected: bool
    observed: bool | None


class SlaBreachRecorded(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.SlaBreachRecorded"
    breach_id: str
    rule: str
    metric: str
    labels: dict[str, str]
    threshold: float | None
    unit: str
    comparison: str
    observed: float | None
    window_start: AwareDatetime
    window_end: AwareDatetime | None
    samples: int
    severity: Severity
    escalation: str
    source: str
    detail: str
    incident_ref: str


class SlaBreachResolved(TicketEvent):
    """The end of a breach recorded while it was still going on (an alert's resolved
    notification after its firing one): a new fact, never an edit of the first."""

    TOPIC: ClassVar[str] = "opsledger.ticket.SlaBreachResolved"
    breach_id: str
    window_end: AwareDatetime
    detail: str


class MetricsSnapshotTaken(TicketEvent):
    """A Prometheus snapshot written into the session folder: its file's digest, and
    what was asked of which server, so the archived file can be held to it."""

    TOPIC: ClassVar[str] = "opsledger.ticket.MetricsSnapshotTaken"
    file: str  # the file's name in the session folder, metrics_<timestamp>.json.gz
    path: str  # where it was written
    sha256: str
    size: int
    source: str  # the Prometheus server's URL, without credentials
    since: AwareDatetime
    until: AwareDatetime
    step_seconds: float
    queries: dict[str, str]  # rule id -> PromQL


class ArchiveSealed(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.ArchiveSealed"
    location: str
    archive_sha256: str
    archive_bytes: int
    manifest_sha256: str
    location_hash: str
    file_count: int
    missing: list[str]
    details: dict[str, Any] = {}


class ArchiveVerified(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.ArchiveVerified"
    location: str
    archive_sha256: str
    ok: bool
    failures: list[str]


class PayloadRedacted(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.PayloadRedacted"
    file: str
    redacted_sha256: str
    findings: list[dict[str, Any]]  # {"kind": ..., "line": ...}, never the secret
    # The original, committed to: "hmac-sha256:<hex>" under the desk's redaction
    # key, which is never archived. Redactions recorded before carry the plain
    # `original_sha256` instead (which a dictionary can be tried against), and
    # so does the redaction of a log whose plain hash its run already recorded.
    original_hmac: str | None = None
    original_sha256: str | None = None

    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = TicketEvent.OMIT_WHEN_NONE | {
        "original_hmac", "original_sha256"}


class Closed(TicketEvent):
    TOPIC: ClassVar[str] = "opsledger.ticket.Closed"
    archive_sha256: str
    pruned: bool = False


class PayloadDeclared(TicketEvent):
    """What a seal is about to archive, signed before the bag is closed: every
    payload file's path, size and SHA-256, so that an archive's payload is
    bound, file by file, to a signed event inside the same archive."""

    TOPIC: ClassVar[str] = "opsledger.ticket.PayloadDeclared"
    files: list[dict[str, Any]]  # {"path": "deploy.log", "size": 683, "sha256": ...}
