"""The application service: the runbook's commands over the event store.

Methods take and return ids and plain values. Every command loads its
aggregate, lets it apply the rules, and saves the new events in one
transaction; if another writer saved first (optimistic concurrency), the
command is re-run on fresh state a bounded number of times, so no event is
lost and no rule is checked against stale state.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    InternalError,
    Notification,
    OperationalError,
    ProgrammingError,
)
from opsledger.domain.errors import AlreadyExists, ConcurrencyError, NotAuthorised, NotFound
from opsledger.domain.flag import FeatureFlag, as_bool, flag_id, validate_flag_name
from opsledger.domain.model import Aggregate, utcnow
from opsledger.domain.persistence import MAPPER_ENV
from opsledger.domain.roster import (
    AuthorityFinding,
    Roster,
    RosterHistory,
    roster_id,
    validate_person,
)
from opsledger.domain.runbook import (
    APPROVERS,
    CHECKS_BY_NAME,
    COMMAND_AUTHORITY,
    LIVE_FLAG,
    Approval,
    Command,
    Env,
    Role,
    ShiftStep,
)
from opsledger.domain.shift import Shift, shift_id
from opsledger.domain.ticket import (
    AUTHORISED_EVENTS,
    Outcome,
    Ticket,
    check_spec,
    ticket_id,
    validate_key,
)

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

OPENED_TOPIC = Ticket.Opened.TOPIC


class OpsLedger(Application):
    name = "OpsLedger"
    env = dict(MAPPER_ENV)  # noqa: RUF012 - eventsourcing reads it as a class attribute

    # Bounded retry: enough for a handful of concurrent writers on one ticket.
    max_attempts = 12
    # An unreachable store is not retried for long: each attempt has already
    # waited out the recorder's own retries (about a minute on PostgreSQL), so
    # twelve attempts kept a command hanging for ten minutes.
    unavailable_budget = 60.0

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        # Writers that start together race to CREATE TABLE IF NOT EXISTS, and
        # PostgreSQL can answer the loser with "tuple concurrently updated".
        for attempt in range(5):
            try:
                super().__init__(env=env)
                return
            except (IntegrityError, InternalError, ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1) * (0.5 + random.random()))

    # --- plumbing ---------------------------------------------------------------

    def _retrying(self, work: Callable[[], R]) -> R:
        began = time.monotonic()
        for attempt in range(self.max_attempts):
            try:
                return work()
            except (IntegrityError, OperationalError) as e:
                # IntegrityError: someone saved the same version first.
                # OperationalError: SQLite's writer lock timed out, or the
                # server dropped the connection; both are worth a fresh try.
                last = e
                if isinstance(e, OperationalError) and (
                    time.monotonic() - began > self.unavailable_budget
                ):
                    break
                time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
        raise ConcurrencyError("store", f"gave up after {attempt + 1} attempts: {last}")

    def _get(self, cls: type[A], aggregate_id: UUID, subject: str) -> A:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(subject, "no such record") from None
        if not isinstance(aggregate, cls):  # pragma: no cover - ids are namespaced
            raise NotFound(subject, "no such record")
        return aggregate

    def _command(self, load: Callable[[], A], change: Callable[[A], R]) -> R:
        """Load, apply the rules, save: retried on fresh state when it fails.

        A commit whose answer was lost (the connection dropped after COMMIT
        was sent) is ambiguous. Before re-running such a command, the events
        it tried to save are looked up: if they are stored, it succeeded, and
        re-running it would record it twice (evidence and runs mint new ids).
        """
        unanswered: list[Any] = []
        answer: list[R] = []

        def work() -> R:
            if unanswered:
                if self._were_stored(unanswered):
                    return answer[0]
                unanswered.clear()
                answer.clear()
            aggregate = load()
            result = change(aggregate)
            pending = list(aggregate.pending_events)
            if not pending:
                return result
            try:
                self.save(aggregate)
            except OperationalError:
                unanswered.extend(pending)
                answer.append(result)
                raise
            return result

        return self._retrying(work)

    def _were_stored(self, events: list[Any]) -> bool:
        for event in events:
            expected = self.mapper.to_stored_event(event)
            found = self.recorder.select_events(
                event.originator_id,
                gt=event.originator_version - 1,
                lte=event.originator_version,
            )
            if not found or (found[0].topic, found[0].state) != (expected.topic, expected.state):
                return False
        return True

    def _update_ticket(self, key: str, change: Callable[[Ticket], R]) -> R:
        validate_key(key)
        return self._command(lambda: self._get(Ticket, ticket_id(key), key), change)

    # --- the roster: authority at the moment of the event -----------------------------

    def _roster_for(self, actor: str) -> Roster:
        try:
            return self.repository.get(roster_id())
        except AggregateNotFoundError:
            raise NotAuthorised(
                actor, "no roster has been founded yet, so nobody holds a role"
            ) from None

    def _authorise(
        self, actor: str, allowed: tuple[Role, ...], role: Role | None, what: str
    ) -> tuple[Role, int]:
        """The role the roster grants `actor` for `what`, and the roster version
        that said so. Called inside a command, so a retry asks again."""
        roster = self._roster_for(actor)
        return roster.authorise(actor, allowed, role, what), roster.version

    def _confirm(self, actor: str, role: Role | None) -> None:
        """A role named on a command any role may run is checked, never just recorded."""
        if role is not None:
            self._roster_for(actor).confirm(actor, role)

    def found_roster(self, *, administrator: str, actor: str, reason: str) -> None:
        roster = Roster.found(administrator=administrator, actor=actor, reason=reason)
        try:
            self.save(roster)
        except IntegrityError:
            raise AlreadyExists("roster", "the roster was founded before") from None

    def grant_role(self, person: str, role: Role, *, actor: str, reason: str) -> bool:
        """True when recorded, False when `person` already held the role."""
        validate_person(person)
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.grant(person=person, role=role, actor=actor, reason=reason),
        )

    def revoke_role(self, person: str, role: Role, *, actor: str, reason: str) -> bool:
        """True when recorded, False when `person` did not hold the role."""
        validate_person(person)
        validate_person(actor)
        return self._command(
            lambda: self._roster_for(actor),
            lambda r: r.revoke(person=person, role=role, actor=actor, reason=reason),
        )

    def get_roster(self, version: int | None = None) -> Roster:
        """The roster now, or as it stood at `version` (to replay a past check)."""
        try:
            return self.repository.get(roster_id(), version=version)
        except AggregateNotFoundError:
            raise NotFound("roster", "no roster has been founded yet") from None

    def audit_authority(self) -> tuple[int, list[AuthorityFinding]]:
        """Replays every roster-checked event against the roster as it stood
        when it was recorded. Returns (events checked, findings); a finding is
        an event with no check, a version that did not grant the role, or one
        overtaken by a revocation before the event was saved (the window
        between reading the roster and saving the ticket)."""
        history = RosterHistory(self.repository.event_store.get(roster_id()))
        keys = {ticket_id(key): key for key in self.ticket_keys()}
        checked, findings = 0, []
        for n in self.notifications(topics=[cls.TOPIC for cls in AUTHORISED_EVENTS]):
            event = self.mapper.to_domain_event(n)
            checked += 1
            problem = history.check(event.actor, event.role, event.roster_version, event.timestamp)
            if problem:
                findings.append(
                    AuthorityFinding(
                        position=n.id,
                        ticket=keys.get(event.originator_id, str(event.originator_id)),
                        event=type(event).__name__,
                        actor=event.actor,
                        role=event.role.value if event.role else None,
                        roster_version=event.roster_version,
                        problem=problem,
                    )
                )
        return checked, findings

    def roster_events(self) -> list[Roster.Event]:
        events = list(self.repository.event_store.get(roster_id()))
        if not events:
            raise NotFound("roster", "no roster has been founded yet")
        return events

    # --- tickets -------------------------------------------------------------------

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
        self._confirm(actor, role)
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
        self._confirm(actor, role)
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
        self._confirm(actor, role)
        return self._update_ticket(
            key, lambda t: t.record_breach(breach=breach, actor=actor, role=role)
        )

    def record_breaches(
        self, key: str, *, breaches: list[dict[str, Any]], actor: str, role: Role | None
    ) -> list[str]:
        """Records many breaches in one transaction: all or none. Returns the
        ids that were new (a breach seen before is not recorded twice)."""
        self._confirm(actor, role)

        def change(ticket: Ticket) -> list[str]:
            return [
                b["breach_id"]
                for b in breaches
                if ticket.record_breach(breach=b, actor=actor, role=role)
            ]

        return self._update_ticket(key, change)

    def record_seal(self, key: str, **seal: Any) -> None:
        self._confirm(seal["actor"], seal.get("role"))
        self._update_ticket(key, lambda t: t.record_seal(**seal))

    def record_redaction(self, key: str, **redaction: Any) -> bool:
        """True when recorded, False when the same redaction already was."""
        self._confirm(redaction["actor"], redaction.get("role"))
        return self._update_ticket(key, lambda t: t.record_redaction(**redaction))

    def record_verification(self, key: str, **verification: Any) -> None:
        self._confirm(verification["actor"], verification.get("role"))
        self._update_ticket(key, lambda t: t.record_verification(**verification))

    def close_ticket(
        self, key: str, *, actor: str, role: Role | None, pruned: bool = False
    ) -> None:
        self._confirm(actor, role)
        self._update_ticket(key, lambda t: t.close(actor=actor, role=role, pruned=pruned))

    # --- flags ---------------------------------------------------------------------------

    def set_flag(
        self,
        name: str,
        *,
        value: str,
        actor: str,
        role: Role | None,
        reason: str,
        ticket: str | None = None,
    ) -> tuple[str | None, str, bool]:
        """Returns (old, new, changed)."""
        validate_flag_name(name)
        self._confirm(actor, role)
        if ticket is not None:
            self.get_ticket(ticket)  # a trail entry must point at a real ticket

        def load() -> FeatureFlag:
            try:
                return self.repository.get(flag_id(name))
            except AggregateNotFoundError:
                return FeatureFlag.create(name)

        def change(flag: FeatureFlag) -> tuple[str | None, str, bool]:
            old = flag.value
            changed = flag.set(value=value, actor=actor, role=role, reason=reason, ticket=ticket)
            return old, flag.value, changed

        return self._command(load, change)

    def flag_value(self, name: str) -> str | None:
        validate_flag_name(name)
        try:
            flag: FeatureFlag = self.repository.get(flag_id(name))
        except AggregateNotFoundError:
            return None
        return flag.value

    def flag_changes(self, name: str) -> list[FeatureFlag.Changed]:
        validate_flag_name(name)
        return [
            e
            for e in self.repository.event_store.get(flag_id(name))
            if isinstance(e, FeatureFlag.Changed)
        ]

    # --- shifts --------------------------------------------------------------------------

    def log_shift_step(
        self,
        *,
        operator: str,
        day: date,
        step: ShiftStep,
        actor: str,
        note: str = "",
        ticket: str | None = None,
        attachment: tuple[str, str, int] | None = None,
    ) -> tuple[bool, list[ShiftStep]]:
        """Returns (accepted now, steps still missing)."""
        if ticket is not None:
            self.get_ticket(ticket)

        def load() -> Shift:
            try:
                return self.repository.get(shift_id(operator, day))
            except AggregateNotFoundError:
                return Shift.start(operator, day)

        def change(shift: Shift) -> tuple[bool, list[ShiftStep]]:
            shift.log_step(step=step, actor=actor, note=note, ticket=ticket, attachment=attachment)
            return shift.accepted, shift.missing_steps()

        return self._command(load, change)

    def get_shift(self, operator: str, day: date) -> Shift:
        return self._get(Shift, shift_id(operator, day), f"shift {operator}/{day.isoformat()}")

    # --- the log ---------------------------------------------------------------------------

    def notifications(
        self, *, start: int = 1, topics: list[str] | None = None, batch: int = 1000
    ) -> Iterator[Notification]:
        """Every stored event in global order; positions may have gaps."""
        while True:
            page = self.recorder.select_notifications(start=start, limit=batch, topics=topics or ())
            yield from page
            if len(page) < batch:
                return
            start = page[-1].id + 1

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0
