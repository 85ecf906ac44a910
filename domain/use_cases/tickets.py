"""The ticket's use cases: open, attach and approve, run scripts, record what
the session showed (flag readings, SLA breaches), archive and close.

Every command asks the roster inside the command, so a retry on fresh state
asks it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from opsledger.domain.errors import AlreadyExists, NotFound
from opsledger.domain.flag import as_bool
from opsledger.domain.model import utcnow
from opsledger.domain.runbook import (
    ACTION_AUTHORITY,
    APPROVERS,
    CHECKS_BY_NAME,
    COMMAND_AUTHORITY,
    LIVE_FLAG,
    Approval,
    Command,
    Env,
    Role,
)
from opsledger.domain.ticket import Outcome, Ticket, check_spec, ticket_id, validate_key
from opsledger.domain.ticket.archives import payload_files
from opsledger.domain.ticket.events import PayloadDeclared
from opsledger.domain.use_cases.base import UseCases

R = TypeVar("R")

OPENED_TOPIC = Ticket.Opened.TOPIC


class TicketUseCases(UseCases):
    def _update_ticket(self, key: str, change: Callable[[Ticket], R]) -> R:
        validate_key(key)
        return self._command(lambda: self._get(Ticket, ticket_id(key), key), change)

    def _may(self, action: str, actor: str, role: Role | None, what: str) -> Role:
        """The role the roster grants `actor` for `action` (runbook.ACTION_AUTHORITY)."""
        return self._authorise(actor, ACTION_AUTHORITY[action], role, what)[0]

    def open_ticket(
        self,
        *,
        key: str,
        strategy: str,
        env: Env,
        artifact_digest: str,
        actor: str,
        role: Role | None,
        title: str = "",
        session_date: date | None = None,
    ) -> UUID:
        role = self._may("open_ticket", actor, role, "opening a change ticket")
        ticket = Ticket.open(
            key=key,
            strategy=strategy,
            env=env,
            artifact_digest=artifact_digest,
            actor=actor,
            role=role,
            title=title,
            session_date=session_date or utcnow().date(),
        )
        try:
            self.save(ticket)
        except IntegrityError:
            raise AlreadyExists(key, "a ticket with this key is already open") from None
        return ticket.id

    def get_ticket(self, key: str) -> Ticket:
        validate_key(key)
        return self._get(Ticket, ticket_id(key), key)

    def ticket_events(self, key: str) -> list[Ticket.Event]:
        validate_key(key)
        events = list(self.repository.event_store.get(ticket_id(key)))
        if not events:
            raise NotFound(key, "no such ticket")
        return events

    def ticket_keys(self) -> list[str]:
        """Keys of every ticket ever opened, in the order they were opened."""
        return [
            self.mapper.to_domain_event(n).key for n in self.notifications(topics=[OPENED_TOPIC])
        ]

    def attach_evidence(
        self,
        key: str,
        *,
        check: str,
        path: str,
        sha256: str,
        size: int,
        actor: str,
        role: Role | None = None,
    ) -> str:
        """`role` picks one of the check's owner roles when the roster grants
        the actor several; the roster decides, at the moment of the event."""

        def change(ticket: Ticket) -> str:
            owners = check_spec(key, check).owners
            acting, version = self._authorise(actor, owners, role, f"evidence for {check!r}")
            return ticket.attach_evidence(
                check=check,
                path=path,
                sha256=sha256,
                size=size,
                actor=actor,
                role=acting,
                roster_version=version,
            )

        return self._update_ticket(key, change)

    def supersede_evidence(
        self, key: str, *, evidence_id: str, reason: str, actor: str, role: Role | None = None
    ) -> None:
        def change(ticket: Ticket) -> None:
            check = ticket.evidence_check(evidence_id)
            owners = CHECKS_BY_NAME[check].owners
            acting, version = self._authorise(
                actor, owners, role, f"superseding evidence for {check!r}"
            )
            ticket.supersede_evidence(
                evidence_id=evidence_id,
                reason=reason,
                actor=actor,
                role=acting,
                roster_version=version,
            )

        self._update_ticket(key, change)

    def approve(
        self,
        key: str,
        *,
        approval: Approval,
        reference: str,
        actor: str,
        role: Role | None = None,
    ) -> None:
        def change(ticket: Ticket) -> None:
            acting, version = self._authorise(
                actor, (APPROVERS[approval],), role, f"the {approval.value} approval"
            )
            ticket.approve(
                approval=approval,
                reference=reference,
                actor=actor,
                role=acting,
                roster_version=version,
            )

        self._update_ticket(key, change)

    def evaluate_gate(self, key: str, *, actor: str, role: Role | None) -> tuple[str, list[str]]:
        role = self._may("evaluate_gate", actor, role, "evaluating the gate")
        return self._update_ticket(key, lambda t: t.evaluate_gate(actor=actor, role=role))

    def start_command(
        self,
        key: str,
        *,
        command: Command,
        argv: list[str],
        log_path: str,
        actor: str,
        role: Role | None,
        reason: str = "",
        started_at: datetime | None = None,
        runner: dict[str, Any] | None = None,
    ) -> tuple[str, Env, list[str]]:
        started = started_at or utcnow()

        def change(ticket: Ticket) -> tuple[str, Env, list[str]]:
            acting, version = self._authorise(
                actor, COMMAND_AUTHORITY[Command(command)], role, f"{command.value}"
            )
            return ticket.start_command(
                command=command,
                argv=argv,
                log_path=log_path,
                started_at=started,
                actor=actor,
                role=acting,
                reason=reason,
                roster_version=version,
                runner=runner,
            )

        return self._update_ticket(key, change)

    def finish_command(
        self,
        key: str,
        *,
        run_id: str,
        outcome: Outcome,
        exit_code: int | None,
        log_sha256: str,
        log_bytes: int,
        actor: str,
        role: Role | None,
        detail: str = "",
        finished_at: datetime | None = None,
        log_digest: str | None = None,
    ) -> None:
        finished = finished_at or utcnow()
        self._update_ticket(
            key,
            lambda t: t.finish_command(
                run_id=run_id,
                outcome=outcome,
                exit_code=exit_code,
                finished_at=finished,
                log_sha256=log_sha256,
                log_bytes=log_bytes,
                actor=actor,
                role=role,
                detail=detail,
                log_digest=log_digest,
            ),
        )

    def observe_flag(
        self, key: str, *, run_id: str, actor: str, role: Role | None
    ) -> tuple[bool | None, bool | None, bool]:
        """Reads `live.enabled` as recorded now and records it against the run.

        Returns (expected, observed, mirrors).
        """
        observed = as_bool(self.flag_value(LIVE_FLAG))
        expected, mirrors = self._update_ticket(
            key, lambda t: t.observe_flag(run_id=run_id, observed=observed, actor=actor, role=role)
        )
        return expected, observed, mirrors

    def record_breach(
        self, key: str, *, breach: dict[str, Any], actor: str, role: Role | None
    ) -> bool:
        """True when the breach, or its end, is new to the record."""
        role = self._may("record_breach", actor, role, "recording an SLA breach")
        return self._update_ticket(
            key, lambda t: t.record_breach(breach=breach, actor=actor, role=role) is not None
        )

    def record_breaches(
        self, key: str, *, breaches: list[dict[str, Any]], actor: str, role: Role | None,
        snapshot: dict[str, Any] | None = None,
    ) -> list[str]:
        """Records many breaches in one transaction: all or none. Returns the
        ids that were new, or whose end was (a breach seen before is not recorded
        twice; only the end of one recorded still going on is). `snapshot`: the
        metrics snapshot they were found in, its digest recorded in the same
        transaction (once per file)."""
        role = self._may("record_breach", actor, role, "recording SLA breaches")

        def change(ticket: Ticket) -> list[str]:
            if snapshot is not None:
                ticket.record_snapshot(snapshot=snapshot, actor=actor, role=role)
            return [
                b["breach_id"]
                for b in breaches
                if ticket.record_breach(breach=b, actor=actor, role=role) is not None
            ]

        return self._update_ticket(key, change)

    def record_seal(self, key: str, **seal: Any) -> None:
        seal["role"] = self._may("record_seal", seal["actor"], seal.get("role"), "sealing")
        self._update_ticket(key, lambda t: t.record_seal(**seal))

    def declare_payload(
        self, key: str, *, files: list[dict[str, Any]], actor: str, role: Role | None
    ) -> None:
        """Records what a seal is about to archive (path, size, sha256 of each file).

        A rerun of a seal that was cut short after its archive was stored
        declares the same files again: when the ticket's last event already
        declares exactly them, nothing is recorded, so the rerun rebuilds the
        same bytes and the store recognises the archive instead of refusing it."""
        role = self._may("record_seal", actor, role, "declaring a seal's payload")
        last = self.ticket_events(key)[-1]
        if isinstance(last, PayloadDeclared) and last.files == payload_files(key, files):
            return
        self._update_ticket(key, lambda t: t.declare_payload(files=files, actor=actor, role=role))

    def record_redaction(self, key: str, **redaction: Any) -> bool:
        """True when recorded, False when the same redaction already was."""
        redaction["role"] = self._may(
            "record_seal", redaction["actor"], redaction.get("role"), "redacting for a seal"
        )
        return self._update_ticket(key, lambda t: t.record_redaction(**redaction))

    def record_verification(self, key: str, **verification: Any) -> None:
        verification["role"] = self._may(
            "record_verification", verification["actor"], verification.get("role"),
            "recording a verification",
        )
        self._update_ticket(key, lambda t: t.record_verification(**verification))

    def close_ticket(
        self, key: str, *, actor: str, role: Role | None, pruned: bool = False
    ) -> None:
        role = self._may("close_ticket", actor, role, "closing a change ticket")
        self._update_ticket(key, lambda t: t.close(actor=actor, role=role, pruned=pruned))
