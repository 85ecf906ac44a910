"""The change ticket: one live session from approvals to a sealed archive.

Public methods ask the rules (`inputs`; the runbook's `evidence`, `runs`,
`archives`) what to record, and those raise a named `DomainError` first; the
private `@applies` (`@event`) methods only change state, so replaying history
never re-runs a rule that might since have changed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from opsledger.domain.errors import TicketClosedError
from opsledger.domain.model import Aggregate, applies
from opsledger.domain.runbook import Approval, Command, Env, Role, Severity
from opsledger.domain.ticket import archives, breaches, events, evidence, inputs, runs
from opsledger.domain.ticket.events import Outcome


class Ticket(Aggregate):
    TOPIC = "opsledger.ticket"

    # The events, as eventsourcing expects them: named in the class body, in
    # this order. It derives from each the class it triggers and stores.
    Opened = events.Opened
    EvidenceAttached = events.EvidenceAttached
    EvidenceSuperseded = events.EvidenceSuperseded
    ApprovalGiven = events.ApprovalGiven
    GateEvaluated = events.GateEvaluated
    Downgraded = events.Downgraded
    CommandStarted = events.CommandStarted
    CommandFinished = events.CommandFinished
    KillSwitchEngaged = events.KillSwitchEngaged
    SessionSettled = events.SessionSettled
    FlagObserved = events.FlagObserved
    FlagMismatchDetected = events.FlagMismatchDetected
    SlaBreachRecorded = events.SlaBreachRecorded
    SlaBreachResolved = events.SlaBreachResolved
    ArchiveSealed = events.ArchiveSealed
    ArchiveVerified = events.ArchiveVerified
    PayloadRedacted = events.PayloadRedacted
    Closed = events.Closed
    PayloadDeclared = events.PayloadDeclared
    MetricsSnapshotTaken = events.MetricsSnapshotTaken

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return inputs.ticket_id(key)

    # --- creation -------------------------------------------------------
    @classmethod
    def open(
        cls,
        *,
        key: str,
        strategy: str,
        env: Env,
        artifact_digest: str,
        actor: str,
        role: Role | None,
        title: str = "",
        session_date: date,
    ) -> Ticket:
        opening = inputs.opening(key, strategy=strategy, artifact_digest=artifact_digest, title=title)
        return cls(**opening, env=env, session_date=session_date, actor=actor, role=role)

    @applies(Opened)
    def __init__(self, *, key: str, title: str, strategy: str, env: Env, **e: Any) -> None:
        self.key = key
        self.title = title
        self.strategy = strategy
        self.requested_env = self.effective_env = Env(env)
        self.artifact_digest = e["artifact_digest"]
        self.opened_by: str = e["actor"]
        self.session_date = e["session_date"]
        self.evidence: dict[str, dict[str, Any]] = {}  # evidence_id -> record
        self.approvals: dict[Approval, dict[str, Any]] = {}
        self.commands: dict[str, dict[str, Any]] = {}  # run_id -> record
        self.breaches: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, str] = {}  # sha256 -> file, metrics snapshots
        self.flag_mismatches: list[dict[str, Any]] = []
        self.gate: dict[str, Any] | None = None
        self.downgrades: list[dict[str, Any]] = []
        self.kill_reasons: list[str] = []
        self.archives: list[dict[str, Any]] = []
        self.redactions: list[dict[str, Any]] = []  # payload files archived redacted
        self.settled = self.closed = False
        self.live_enabled: bool | None = None

    # --- evidence and approvals (runbook section 1) ----------------------
    def attach_evidence(
        self,
        *,
        check: str,
        path: str,
        sha256: str,
        size: int,
        actor: str,
        role: Role,
        roster_version: int | None = None,
    ) -> str:
        self._refuse_if_closed()
        attached = evidence.attachment(
            self,
            check=check,
            path=path,
            sha256=sha256,
            size=size,
            actor=actor,
            role=role,
        )
        self._attach_evidence(**attached, roster_version=roster_version)
        return attached["evidence_id"]

    @applies(EvidenceAttached)
    def _attach_evidence(self, *, role: Role, **e: Any) -> None:
        record = {k: e[k] for k in ("evidence_id", "check", "path", "sha256", "size", "actor")}
        self.evidence[e["evidence_id"]] = record | {"role": Role(role), "superseded": None}

    def supersede_evidence(
        self,
        *,
        evidence_id: str,
        reason: str,
        actor: str,
        role: Role,
        roster_version: int | None = None,
    ) -> None:
        self._refuse_if_closed()
        correction = evidence.supersession(self, evidence_id, reason=reason, role=role)
        self._supersede_evidence(
            **correction, actor=actor, role=role, roster_version=roster_version
        )

    def evidence_check(self, evidence_id: str) -> str:
        """The check a piece of evidence was attached for (its owners may supersede it)."""
        return evidence.evidence_check(self.key, self.evidence, evidence_id)

    @applies(EvidenceSuperseded)
    def _supersede_evidence(self, *, evidence_id: str, reason: str, actor: str, **_: Any) -> None:
        self.evidence[evidence_id]["superseded"] = {"reason": reason, "actor": actor}

    def approve(
        self,
        *,
        approval: Approval,
        reference: str,
        actor: str,
        role: Role,
        roster_version: int | None = None,
    ) -> None:
        self._refuse_if_closed()
        given = evidence.approval_given(self, approval, reference=reference, role=role,
                                        actor=actor)
        self._approve(**given, actor=actor, role=role, roster_version=roster_version)

    @applies(ApprovalGiven)
    def _approve(self, *, approval: Approval, reference: str, actor: str, **_: Any) -> None:
        self.approvals[Approval(approval)] = {"reference": reference, "actor": actor}

    # --- go / no-go ---------------------------------------------------------
    def missing_checks(self) -> list[str]:
        """What keeps this ticket from prod, one line per gap, in runbook order."""
        return evidence.missing_checks(self.evidence, self.approvals)

    def evaluate_gate(self, *, actor: str, role: Role | None) -> tuple[str, list[str]]:
        self._refuse_if_closed()
        gate = evidence.gate(self)
        self._evaluate_gate(**gate, actor=actor, role=role)
        return gate["decision"], gate["missing"]

    @applies(GateEvaluated)
    def _evaluate_gate(self, *, decision: str, missing: list[str], **_: Any) -> None:
        self.gate = {"decision": decision, "missing": list(missing)}

    # --- launch and halt scripts (runbook section 2) --------------------------
    def start_command(
        self,
        *,
        command: Command,
        argv: list[str],
        log_path: str,
        started_at: datetime,
        actor: str,
        role: Role | None,
        reason: str = "",
        run_id: str | None = None,
        roster_version: int | None = None,
        runner: dict[str, Any] | None = None,
    ) -> tuple[str, Env, list[str]]:
        """Records a script's start; returns its run id, effective env and the
        gaps that downgraded it (Go/No-Go: see `runs.run_env`)."""
        self._refuse_if_closed()
        start = runs.start(self, command=command, reason=reason, run_id=run_id)
        if start.downgrade:
            self._downgrade(**start.downgrade, actor=actor, role=role)
        self._start_command(
            **start.started,
            argv=list(argv),
            log_path=log_path,
            started_at=started_at,
            actor=actor,
            role=role,
            roster_version=roster_version,
            runner=runner,
        )
        if start.kill:
            self._engage_kill_switch(
                **start.kill, actor=actor, role=role, roster_version=roster_version
            )
        return start.run_id, start.env, start.missing

    @applies(Downgraded)
    def _downgrade(self, *, run_id: str, effective_env: Env, missing: list[str], **_: Any) -> None:
        self.effective_env = Env(effective_env)
        self.downgrades.append({"run_id": run_id, "missing": list(missing)})

    @applies(CommandStarted)
    def _start_command(self, *, run_id: str, command: Command, env: Env, **e: Any) -> None:
        command, env = Command(command), Env(env)
        if command is Command.DEPLOY:
            self.effective_env = env
        run = {"run_id": run_id, "command": command, "argv": list(e["argv"]), "env": env}
        started = {k: e.get(k) for k in ("log_path", "started_at", "reason", "actor", "runner")}
        self.commands[run_id] = run | started | {"finished": None}

    @applies(KillSwitchEngaged)
    def _engage_kill_switch(self, *, reason: str, **_: Any) -> None:
        self.kill_reasons.append(reason)

    def finish_command(
        self,
        *,
        run_id: str,
        outcome: Outcome,
        exit_code: int | None,
        finished_at: datetime,
        log_sha256: str,
        log_bytes: int,
        actor: str,
        role: Role | None,
        detail: str = "",
        log_digest: str | None = None,
    ) -> None:
        # Allowed on a closed ticket: a script running when it closed still ends.
        finished = runs.finishing(self, run_id, detail, outcome=outcome, exit_code=exit_code)
        self._finish_command(
            **finished,
            finished_at=finished_at,
            log_sha256=log_sha256,
            log_bytes=log_bytes,
            log_digest=runs.log_digest(self.key, log_digest),
            actor=actor,
            role=role,
        )
        if runs.settles(finished["command"], outcome, exit_code):
            self._settle(run_id=run_id, actor=actor, role=role)

    @applies(CommandFinished)
    def _finish_command(self, *, run_id: str, **e: Any) -> None:
        keep = ("outcome", "exit_code", "finished_at", "log_sha256", "log_bytes", "detail",
                "log_digest")
        self.commands[run_id]["finished"] = {k: e.get(k) for k in keep}

    @applies(SessionSettled)
    def _settle(self, **_: Any) -> None:
        self.settled = True

    def observe_flag(
        self, *, run_id: str, observed: bool | None, actor: str, role: Role | None
    ) -> tuple[bool | None, bool]:
        """Records `live.enabled` as read after a script; returns (expected, mirrors)."""
        reading = runs.flag_reading(self, run_id, observed)
        self._observe_flag(**reading, actor=actor, role=role)
        mirrors = runs.mirrors(reading)
        if not mirrors:
            self._flag_mismatch(**reading, actor=actor, role=role)
        return reading["expected"], mirrors

    @applies(FlagObserved)
    def _observe_flag(self, *, observed: bool | None, **_: Any) -> None:
        self.live_enabled = observed

    @applies(FlagMismatchDetected)
    def _flag_mismatch(self, **e: Any) -> None:
        self.flag_mismatches.append({k: e[k] for k in ("run_id", "flag", "expected", "observed")})

    # --- SLA (runbook section 3) ------------------------------------------------
    def record_breach(
        self, *, breach: dict[str, Any], actor: str, role: Role | None
    ) -> breaches.Recording | None:
        """Records a breach once, and its end once more if it was recorded still going
        on; None when the record already says all this breach tells (`breaches`)."""
        found = breaches.recording(self.breaches, breach)
        if found is None:
            return None
        self._refuse_if_closed()
        what, fields = found
        record = self._record_breach if what == "recorded" else self._resolve_breach
        record(**fields, actor=actor, role=role)
        return what

    @applies(SlaBreachRecorded)
    def _record_breach(self, *, breach_id: str, severity: Severity, **e: Any) -> None:
        self.breaches[breach_id] = breaches.state(e) | {"severity": Severity(severity)}

    @applies(SlaBreachResolved)
    def _resolve_breach(self, *, breach_id: str, window_end: datetime, **_: Any) -> None:
        self.breaches[breach_id]["window_end"] = window_end

    def record_snapshot(self, *, snapshot: dict[str, Any], actor: str, role: Role | None) -> bool:
        """Puts a metrics snapshot's digest on the record; False if this file is on it."""
        found = breaches.snapshot(self.key, self.snapshots, snapshot)
        if found is not None:
            self._refuse_if_closed()
            self._take_snapshot(**found, actor=actor, role=role)
        return found is not None

    @applies(MetricsSnapshotTaken)
    def _take_snapshot(self, *, sha256: str, file: str, **_: Any) -> None:
        self.snapshots[sha256] = file

    # --- archive and close (runbook section 6) ------------------------------------
    def record_seal(
        self, *, location: str, archive_sha256: str, archive_bytes: int, manifest_sha256: str,
        location_hash: str, file_count: int, missing: list[str], actor: str, role: Role | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._refuse_if_closed()
        self._seal(
            location=location, archive_sha256=archive_sha256, archive_bytes=archive_bytes,
            manifest_sha256=manifest_sha256, location_hash=location_hash, file_count=file_count,
            missing=list(missing), details=details or {}, actor=actor, role=role,
        )

    @applies(ArchiveSealed)
    def _seal(self, *, location: str, archive_sha256: str, missing: list[str], **_: Any) -> None:
        archive = {"location": location, "archive_sha256": archive_sha256}
        self.archives.append(archive | {"missing": list(missing), "verified": None})

    def record_redaction(
        self,
        *,
        file: str,
        redacted_sha256: str,
        findings: list[dict[str, Any]],
        actor: str,
        role: Role | None,
        original_hmac: str | None = None,
        original_sha256: str | None = None,
    ) -> bool:
        """Puts on the record that the archive holds a redacted copy of `file`;
        False when this very redaction is already recorded (a rerun)."""
        self._refuse_if_closed()
        redaction = archives.redaction(
            self,
            file=file,
            original_hmac=original_hmac,
            original_sha256=original_sha256,
            redacted_sha256=redacted_sha256,
            findings=findings,
        )
        if redaction is None:
            return False
        self._redact(**redaction, actor=actor, role=role)
        return True

    @applies(PayloadRedacted)
    def _redact(self, *, findings: list[dict[str, Any]], **e: Any) -> None:
        keep = ("file", "original_hmac", "original_sha256", "redacted_sha256")
        record = {k: e[k] for k in keep if e.get(k) is not None}
        self.redactions.append(record | {"findings": [dict(f) for f in findings]})

    def record_verification(
        self,
        *,
        location: str,
        archive_sha256: str,
        ok: bool,
        failures: list[str],
        actor: str,
        role: Role | None,
    ) -> None:
        verified = archives.verification(
            self, location=location, archive_sha256=archive_sha256, ok=ok, failures=failures
        )
        self._verify(**verified, actor=actor, role=role)

    @applies(ArchiveVerified)
    def _verify(self, *, archive_sha256: str, ok: bool, **_: Any) -> None:
        for archive in self.archives:
            if archive["archive_sha256"] == archive_sha256:
                archive["verified"] = ok

    def declare_payload(self, *, files: list[dict[str, Any]], actor: str, role: Role | None) -> None:
        self._refuse_if_closed()
        self._declare(files=archives.payload_files(self.key, files), actor=actor, role=role)

    @applies(PayloadDeclared)
    def _declare(self, **_: Any) -> None:
        """Changes nothing: it is what an archive's payload is checked against."""

    def close(self, *, actor: str, role: Role | None, pruned: bool = False) -> None:
        self._refuse_if_closed()
        self._close(**archives.closing(self, pruned=pruned), actor=actor, role=role)

    @applies(Closed)
    def _close(self, **_: Any) -> None:
        self.closed = True

    def _refuse_if_closed(self) -> None:
        if self.closed:
            raise TicketClosedError(self.key, "the ticket is closed; nothing more can be recorded")
