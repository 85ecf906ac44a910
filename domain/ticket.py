"""The change ticket: one live session from approvals to a sealed archive.

Public methods check the runbook's rules and raise a named `DomainError`
before anything is recorded; the private `@event` methods only change state,
so replaying history never re-runs a rule that might since have changed.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from eventsourcing.domain import event
from opsledger.domain.errors import (
    ArchiveRequired,
    CommandStateError,
    EvidenceNotFound,
    InvalidInput,
    ReasonRequired,
    SameSigner,
    TicketClosedError,
    WrongRole,
)
from opsledger.domain.model import Aggregate, Created, derive_id
from opsledger.domain.runbook import (
    APPROVERS,
    CHECKS,
    CHECKS_BY_NAME,
    LIVE_FLAG,
    Approval,
    Check,
    Command,
    Env,
    Role,
    Severity,
    gate_gaps,
)
from pydantic import AwareDatetime

TICKET_KEY = re.compile(r"^[A-Z][A-Z0-9]{1,15}-[0-9]{1,10}$")
STRATEGY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

Outcome = Literal["exited", "failed-to-start", "interrupted"]


def ticket_id(key: str) -> UUID:
    return derive_id("ticket", key)


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not TICKET_KEY.match(key):
        raise InvalidInput(
            repr(key), "not a ticket key (expected letters, a dash and a number, e.g. CHG-2041)"
        )
    return key


def validate_text(subject: str, what: str, value: str, *, limit: int = 2000) -> str:
    if any(ord(c) < 32 and c not in "\t" for c in value) or len(value) > limit:
        raise InvalidInput(subject, f"{what} must be one line of at most {limit} characters")
    return value


def check_spec(key: str, check: str) -> Check:
    spec = CHECKS_BY_NAME.get(check)
    if spec is None:
        names = ", ".join(c.name for c in CHECKS)
        raise InvalidInput(key, f"unknown check {check!r} (one of: {names})")
    return spec


class TicketEvent(Aggregate.Event):
    actor: str
    role: Role | None = None


class AuthorisedEvent(TicketEvent):
    """An event the roster must allow; it names the roster version that did,
    so an auditor can replay the check (None: recorded before the roster)."""

    roster_version: int | None = None


class Ticket(Aggregate):
    TOPIC = "opsledger.ticket"

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

    class CommandFinished(TicketEvent):
        TOPIC: ClassVar[str] = "opsledger.ticket.CommandFinished"
        run_id: str
        command: Command
        outcome: Outcome
        exit_code: int | None
        started_at: AwareDatetime
        finished_at: AwareDatetime
        log_path: str
        log_sha256: str
        log_bytes: int
        detail: str = ""

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
        original_sha256: str
        redacted_sha256: str
        findings: list[dict[str, Any]]  # {"kind": ..., "line": ...}, never the secret

    class Closed(TicketEvent):
        TOPIC: ClassVar[str] = "opsledger.ticket.Closed"
        archive_sha256: str
        pruned: bool = False

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return ticket_id(key)

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
        validate_key(key)
        if not STRATEGY_ID.match(strategy):
            raise InvalidInput(key, f"strategy id {strategy!r} is not valid")
        if not DIGEST.match(artifact_digest):
            raise InvalidInput(
                key, "artifact digest must look like sha256:<64 lowercase hex digits>"
            )
        validate_text(key, "title", title, limit=200)
        return cls(
            key=key,
            title=title,
            strategy=strategy,
            env=env,
            artifact_digest=artifact_digest,
            session_date=session_date,
            actor=actor,
            role=role,
        )

    @event(Opened)
    def __init__(
        self,
        *,
        key: str,
        title: str,
        strategy: str,
        env: Env,
        artifact_digest: str,
        session_date: date,
        actor: str,
        role: Role | None,
    ) -> None:
        self.key = key
        self.title = title
        self.strategy = strategy
        self.requested_env = Env(env)
        self.effective_env = Env(env)
        self.artifact_digest = artifact_digest
        self.session_date = session_date
        self.evidence: dict[str, dict[str, Any]] = {}  # evidence_id -> record
        self.approvals: dict[Approval, dict[str, Any]] = {}
        self.commands: dict[str, dict[str, Any]] = {}  # run_id -> record
        self.breaches: dict[str, dict[str, Any]] = {}
        self.flag_mismatches: list[dict[str, Any]] = []
        self.gate: dict[str, Any] | None = None
        self.downgrades: list[dict[str, Any]] = []
        self.kill_reasons: list[str] = []
        self.settled = False
        self.archives: list[dict[str, Any]] = []
        self.redactions: list[dict[str, Any]] = []  # payload files archived redacted
        self.closed = False
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
        spec = check_spec(self.key, check)
        if role not in spec.owners:
            owners = " or ".join(r.title for r in spec.owners)
            raise WrongRole(
                self.key,
                f"evidence for {check!r} is attached by the {owners}, not the {role.title}",
            )
        if not SHA256_HEX.match(sha256) or size < 0:
            raise InvalidInput(self.key, "evidence needs a sha256 hex digest and a size")
        validate_text(self.key, "evidence path", path)
        if spec.all_owners_required:
            for record in self._current_evidence(check):
                if record["actor"] == actor and record["role"] != role:
                    raise SameSigner(
                        self.key,
                        f"{actor} already signed {check!r} as {record['role'].title}; "
                        "the production cutover gate needs two distinct people",
                    )
        evidence_id = uuid4().hex[:12]
        self._attach_evidence(
            evidence_id=evidence_id,
            check=check,
            path=path,
            sha256=sha256,
            size=size,
            actor=actor,
            role=role,
            roster_version=roster_version,
        )
        return evidence_id

    @event(EvidenceAttached)
    def _attach_evidence(
        self,
        evidence_id: str,
        check: str,
        path: str,
        sha256: str,
        size: int,
        actor: str,
        role: Role,
        roster_version: int | None,
    ) -> None:
        self.evidence[evidence_id] = {
            "evidence_id": evidence_id,
            "check": check,
            "path": path,
            "sha256": sha256,
            "size": size,
            "actor": actor,
            "role": Role(role),
            "superseded": None,
        }

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
        check = self.evidence_check(evidence_id)
        if not reason.strip():
            raise ReasonRequired(self.key, "superseding evidence needs a reason")
        validate_text(self.key, "reason", reason)
        owners = CHECKS_BY_NAME[check].owners
        if role not in owners:
            names = " or ".join(r.title for r in owners)
            raise WrongRole(self.key, f"evidence for {check!r} is superseded by the {names}")
        self._supersede_evidence(
            evidence_id=evidence_id,
            reason=reason,
            actor=actor,
            role=role,
            roster_version=roster_version,
        )

    def evidence_check(self, evidence_id: str) -> str:
        """The check a piece of evidence was attached for (its owners may supersede it)."""
        record = self.evidence.get(evidence_id)
        if record is None or record["superseded"] is not None:
            raise EvidenceNotFound(self.key, f"no current evidence with id {evidence_id!r}")
        return record["check"]

    @event(EvidenceSuperseded)
    def _supersede_evidence(
        self,
        evidence_id: str,
        reason: str,
        actor: str,
        role: Role | None,
        roster_version: int | None,
    ) -> None:
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
        needed = APPROVERS[approval]
        if role != needed:
            raise WrongRole(
                self.key, f"the {approval.value} approval is given by the {needed.title}"
            )
        validate_text(self.key, "reference", reference, limit=500)
        self._approve(
            approval=approval,
            reference=reference,
            actor=actor,
            role=role,
            roster_version=roster_version,
        )

    @event(ApprovalGiven)
    def _approve(
        self,
        approval: Approval,
        reference: str,
        actor: str,
        role: Role | None,
        roster_version: int | None,
    ) -> None:
        self.approvals[Approval(approval)] = {"reference": reference, "actor": actor}

    # --- go / no-go ---------------------------------------------------------

    def _current_evidence(self, check: str) -> list[dict[str, Any]]:
        return [
            e for e in self.evidence.values() if e["check"] == check and e["superseded"] is None
        ]

    def missing_checks(self) -> list[str]:
        """What keeps this ticket from prod, one line per gap, in runbook order."""
        current: dict[str, list[tuple[str, str]]] = {}
        for record in self.evidence.values():
            if record["superseded"] is None:
                current.setdefault(record["check"], []).append(
                    (record["role"].value, record["actor"])
                )
        return gate_gaps(current, (a.value for a in self.approvals))

    def evaluate_gate(self, *, actor: str, role: Role | None) -> tuple[str, list[str]]:
        self._refuse_if_closed()
        missing = self.missing_checks()
        decision = "go" if not missing else "no-go"
        self._evaluate_gate(decision=decision, missing=missing, actor=actor, role=role)
        return decision, missing

    @event(GateEvaluated)
    def _evaluate_gate(
        self, decision: str, missing: list[str], actor: str, role: Role | None
    ) -> None:
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
    ) -> tuple[str, Env, list[str]]:
        """Records a script's start; returns its run id, effective env and gaps.

        Go/No-Go: a prod deploy with evidence missing is downgraded to staging
        *before* it starts, so the record never claims prod it did not have.
        """
        self._refuse_if_closed()
        if command is Command.KILL and not reason.strip():
            raise ReasonRequired(self.key, "kill needs a non-empty --reason for the record")
        validate_text(self.key, "reason", reason)
        run_id = run_id or uuid4().hex[:12]
        if run_id in self.commands:
            raise CommandStateError(self.key, f"run {run_id} was already started")
        env = self.effective_env
        missing: list[str] = []
        if command is Command.DEPLOY:
            env = self.requested_env
            if env is Env.PROD:
                missing = self.missing_checks()
                if missing:
                    env = Env.STAGING
                    self._downgrade(
                        run_id=run_id,
                        requested_env=Env.PROD,
                        effective_env=env,
                        missing=missing,
                        actor=actor,
                        role=role,
                    )
        self._start_command(
            run_id=run_id,
            command=command,
            argv=list(argv),
            env=env,
            log_path=log_path,
            started_at=started_at,
            reason=reason,
            actor=actor,
            role=role,
            roster_version=roster_version,
        )
        if command is Command.KILL:
            self._engage_kill_switch(
                run_id=run_id,
                reason=reason,
                actor=actor,
                role=role,
                roster_version=roster_version,
            )
        return run_id, env, missing

    @event(Downgraded)
    def _downgrade(
        self,
        run_id: str,
        requested_env: Env,
        effective_env: Env,
        missing: list[str],
        actor: str,
        role: Role | None,
    ) -> None:
        self.effective_env = Env(effective_env)
        self.downgrades.append({"run_id": run_id, "missing": list(missing)})

    @event(CommandStarted)
    def _start_command(
        self,
        run_id: str,
        command: Command,
        argv: list[str],
        env: Env,
        log_path: str,
        started_at: datetime,
        reason: str,
        actor: str,
        role: Role | None,
        roster_version: int | None,
    ) -> None:
        if Command(command) is Command.DEPLOY:
            self.effective_env = Env(env)
        self.commands[run_id] = {
            "run_id": run_id,
            "command": Command(command),
            "argv": list(argv),
            "env": Env(env),
            "log_path": log_path,
            "started_at": started_at,
            "reason": reason,
            "actor": actor,
            "finished": None,
        }

    @event(KillSwitchEngaged)
    def _engage_kill_switch(
        self,
        run_id: str,
        reason: str,
        actor: str,
        role: Role | None,
        roster_version: int | None,
    ) -> None:
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
    ) -> None:
        # A script that was running when the ticket closed must still be able
        # to report how it ended, so finishing is allowed on a closed ticket.
        record = self.commands.get(run_id)
        if record is None:
            raise CommandStateError(self.key, f"run {run_id} was never started")
        if record["finished"] is not None:
            raise CommandStateError(self.key, f"run {run_id} has already finished")
        command = record["command"]
        self._finish_command(
            run_id=run_id,
            command=command,
            outcome=outcome,
            exit_code=exit_code,
            started_at=record["started_at"],
            finished_at=finished_at,
            log_path=record["log_path"],
            log_sha256=log_sha256,
            log_bytes=log_bytes,
            detail=validate_text(self.key, "detail", detail),
            actor=actor,
            role=role,
        )
        if command is Command.SETTLE and outcome == "exited" and exit_code == 0:
            self._settle(run_id=run_id, actor=actor, role=role)

    @event(CommandFinished)
    def _finish_command(
        self,
        run_id: str,
        command: Command,
        outcome: str,
        exit_code: int | None,
        started_at: datetime,
        finished_at: datetime,
        log_path: str,
        log_sha256: str,
        log_bytes: int,
        detail: str,
        actor: str,
        role: Role | None,
    ) -> None:
        self.commands[run_id]["finished"] = {
            "outcome": outcome,
            "exit_code": exit_code,
            "finished_at": finished_at,
            "log_sha256": log_sha256,
            "log_bytes": log_bytes,
            "detail": detail,
        }

    @event(SessionSettled)
    def _settle(self, run_id: str, actor: str, role: Role | None) -> None:
        self.settled = True

    def observe_flag(
        self, *, run_id: str, observed: bool | None, actor: str, role: Role | None
    ) -> tuple[bool | None, bool]:
        """Records `live.enabled` as read after a script; returns (expected, mirrors)."""
        record = self.commands.get(run_id)
        if record is None:
            raise CommandStateError(self.key, f"run {run_id} was never started")
        expected = record["command"].intended_live
        if record["command"] is Command.DEPLOY and record["env"] is not Env.PROD:
            # A deploy downgraded to staging must leave live trading off.
            expected = False
        self._observe_flag(
            run_id=run_id,
            flag=LIVE_FLAG,
            expected=expected,
            observed=observed,
            actor=actor,
            role=role,
        )
        mirrors = expected is None or expected == observed
        if not mirrors:
            self._flag_mismatch(
                run_id=run_id,
                flag=LIVE_FLAG,
                expected=expected,
                observed=observed,
                actor=actor,
                role=role,
            )
        return expected, mirrors

    @event(FlagObserved)
    def _observe_flag(
        self,
        run_id: str,
        flag: str,
        expected: bool | None,
        observed: bool | None,
        actor: str,
        role: Role | None,
    ) -> None:
        self.live_enabled = observed

    @event(FlagMismatchDetected)
    def _flag_mismatch(
        self,
        run_id: str,
        flag: str,
        expected: bool,
        observed: bool | None,
        actor: str,
        role: Role | None,
    ) -> None:
        self.flag_mismatches.append(
            {"run_id": run_id, "flag": flag, "expected": expected, "observed": observed}
        )

    # --- SLA (runbook section 3) ------------------------------------------------

    def record_breach(self, *, breach: dict[str, Any], actor: str, role: Role | None) -> bool:
        """Records a breach once; the same breach id again is not a new breach."""
        if breach["breach_id"] in self.breaches:
            return False
        self._refuse_if_closed()
        self._record_breach(**breach, actor=actor, role=role)
        return True

    @event(SlaBreachRecorded)
    def _record_breach(
        self,
        breach_id: str,
        rule: str,
        metric: str,
        labels: dict[str, str],
        threshold: float | None,
        unit: str,
        comparison: str,
        observed: float | None,
        window_start: datetime,
        window_end: datetime | None,
        samples: int,
        severity: Severity,
        escalation: str,
        source: str,
        detail: str,
        incident_ref: str,
        actor: str,
        role: Role | None,
    ) -> None:
        self.breaches[breach_id] = {"metric": metric, "severity": Severity(severity)}

    # --- archive and close (runbook section 6) ------------------------------------

    def record_seal(
        self,
        *,
        location: str,
        archive_sha256: str,
        archive_bytes: int,
        manifest_sha256: str,
        location_hash: str,
        file_count: int,
        missing: list[str],
        actor: str,
        role: Role | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._refuse_if_closed()
        self._seal(
            location=location,
            archive_sha256=archive_sha256,
            archive_bytes=archive_bytes,
            manifest_sha256=manifest_sha256,
            location_hash=location_hash,
            file_count=file_count,
            missing=list(missing),
            details=details or {},
            actor=actor,
            role=role,
        )

    @event(ArchiveSealed)
    def _seal(
        self,
        location: str,
        archive_sha256: str,
        archive_bytes: int,
        manifest_sha256: str,
        location_hash: str,
        file_count: int,
        missing: list[str],
        details: dict[str, Any],
        actor: str,
        role: Role | None,
    ) -> None:
        self.archives.append(
            {
                "location": location,
                "archive_sha256": archive_sha256,
                "missing": list(missing),
                "verified": None,
            }
        )

    def record_redaction(
        self,
        *,
        file: str,
        original_sha256: str,
        redacted_sha256: str,
        findings: list[dict[str, Any]],
        actor: str,
        role: Role | None,
    ) -> bool:
        """Puts on the record that the archive holds a redacted copy of `file`.
        Returns False when this very redaction is already recorded (a rerun)."""
        self._refuse_if_closed()
        validate_text(self.key, "file name", file)
        if not (SHA256_HEX.match(original_sha256) and SHA256_HEX.match(redacted_sha256)):
            raise InvalidInput(self.key, "a redaction needs the sha256 hex of both files")
        if original_sha256 == redacted_sha256:
            raise InvalidInput(self.key, f"{file}: a redacted copy must differ from its original")
        cleaned = []
        for f in findings:
            kind, line = f.get("kind"), f.get("line")
            if not isinstance(kind, str) or not isinstance(line, int) or line < 1:
                raise InvalidInput(self.key, "each redaction finding needs a kind and a line")
            cleaned.append({"kind": validate_text(self.key, "kind", kind, limit=64), "line": line})
        if not cleaned:
            raise InvalidInput(self.key, f"{file}: a redaction without findings")
        if (file, original_sha256, redacted_sha256) in {
            (r["file"], r["original_sha256"], r["redacted_sha256"]) for r in self.redactions
        }:
            return False
        self._redact(
            file=file,
            original_sha256=original_sha256,
            redacted_sha256=redacted_sha256,
            findings=cleaned,
            actor=actor,
            role=role,
        )
        return True

    @event(PayloadRedacted)
    def _redact(
        self,
        file: str,
        original_sha256: str,
        redacted_sha256: str,
        findings: list[dict[str, Any]],
        actor: str,
        role: Role | None,
    ) -> None:
        self.redactions.append(
            {
                "file": file,
                "original_sha256": original_sha256,
                "redacted_sha256": redacted_sha256,
                "findings": [dict(f) for f in findings],
            }
        )

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
        if not any(a["archive_sha256"] == archive_sha256 for a in self.archives):
            raise ArchiveRequired(
                self.key, f"archive {archive_sha256[:12]}… was never sealed for this ticket"
            )
        self._verify(
            location=location,
            archive_sha256=archive_sha256,
            ok=ok,
            failures=list(failures),
            actor=actor,
            role=role,
        )

    @event(ArchiveVerified)
    def _verify(
        self,
        location: str,
        archive_sha256: str,
        ok: bool,
        failures: list[str],
        actor: str,
        role: Role | None,
    ) -> None:
        for archive in self.archives:
            if archive["archive_sha256"] == archive_sha256:
                archive["verified"] = ok

    def close(self, *, actor: str, role: Role | None, pruned: bool = False) -> None:
        self._refuse_if_closed()
        latest = self.archives[-1] if self.archives else None
        if latest is None:
            raise ArchiveRequired(
                self.key, "cannot close: no archive of this session has been sealed"
            )
        if latest["verified"] is not True:
            state = "failed verification" if latest["verified"] is False else "is not verified"
            raise ArchiveRequired(
                self.key, f"cannot close: the latest archive {state}; run archive verify first"
            )
        self._close(archive_sha256=latest["archive_sha256"], pruned=pruned, actor=actor, role=role)

    @event(Closed)
    def _close(self, archive_sha256: str, pruned: bool, actor: str, role: Role | None) -> None:
        self.closed = True

    def _refuse_if_closed(self) -> None:
        if self.closed:
            raise TicketClosedError(self.key, "the ticket is closed; nothing more can be recorded")


# The events the roster must allow (see domain.roster); an audit replays each.
AUTHORISED_EVENTS: tuple[type[AuthorisedEvent], ...] = (
    Ticket.EvidenceAttached,
    Ticket.EvidenceSuperseded,
    Ticket.ApprovalGiven,
    Ticket.CommandStarted,
    Ticket.KillSwitchEngaged,
)
