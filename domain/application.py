"""The application service: the runbook's commands over the event store.

Methods take and return ids and plain values. Every command loads its
aggregate, lets it apply the rules, and saves the new events in one
transaction; if another writer saved first (optimistic concurrency), the
command is re-run on fresh state a bounded number of times, so no event is
lost and no rule is checked against stale state.

This module holds that plumbing; the use cases themselves are grouped by
family of aggregates in `opsledger.domain.use_cases` and mixed in here.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
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
from opsledger.domain import signing
from opsledger.domain.errors import ConcurrencyError, NotFound
from opsledger.domain.model import Aggregate, Signature, utcnow
from opsledger.domain.persistence import MAPPER_ENV
from opsledger.domain.sshsig import (
    SshSignatureVerifier,
    VerifiedSignature,
    parse_public_key_line,
)
from opsledger.domain.use_cases.actions import ACTIONS
from opsledger.domain.use_cases.flags import FlagUseCases
from opsledger.domain.use_cases.roster import RosterUseCases
from opsledger.domain.use_cases.shifts import ShiftUseCases
from opsledger.domain.use_cases.tickets import TicketUseCases
from opsledger.domain.use_cases.tokens import TokenUseCases

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


class OpsLedger(RosterUseCases, TicketUseCases, FlagUseCases, ShiftUseCases, TokenUseCases,
                Application):
    name = "OpsLedger"
    env = dict(MAPPER_ENV)  # noqa: RUF012 - eventsourcing reads it as a class attribute

    # Bounded retry: enough for a handful of concurrent writers on one ticket.
    max_attempts = 12
    # An unreachable store is not retried for long: each attempt has already
    # waited out the recorder's own retries (about a minute on PostgreSQL), so
    # twelve attempts kept a command hanging for ten minutes.
    unavailable_budget = 60.0

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        verifier: SshSignatureVerifier | None = None,
    ) -> None:
        self.verifier = verifier
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

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Every event a signed command records carries its signature; the
        target's first new event must sit right after the version signed for."""
        state = signing.current()
        if state is not None:
            for aggregate in objs:
                pending = getattr(aggregate, "pending_events", None)
                if not pending:
                    continue
                first = pending[0].originator_version
                # Creating a record that exists (first == 1) is no stale intent: the
                # store refuses the duplicate and the command says it already exists.
                if aggregate.id == state.target_id and first != state.version + 1 and first != 1:
                    raise signing.StaleIntent(
                        state.signature.signer,
                        f"signed for version {state.version}, but the record is at "
                        f"version {first - 1}: read it again and sign again",
                    )
                pending[:] = [e.model_copy(update={"signature": state.signature}) for e in pending]
        return super().save(*objs, **kwargs)

    # --- signed commands ------------------------------------------------------------------

    def perform(self, signed: signing.SignedIntent, *, now: datetime | None = None,
                exact_version: bool = False) -> Any:
        """Checks a signed intent and records it: the signature is valid, the
        key is the signer's in the roster at the time signed, the intent is
        fresh and names a recording action; then runs that action as the signer.

        With `exact_version`, the target must still be at the version signed for
        even when the action would record nothing (a replayed intent is refused,
        not a no-op). That is checked only after the signature and the key: a
        forged intent learns nothing about the record.

        Nothing is recorded when any check fails."""
        intent = signing.Intent.from_bytes(signed.payload)
        if intent.action not in ACTIONS:
            raise signing.SigningError(intent.action, "not an action opsledger records")
        signing.check_fresh(intent, now or utcnow())
        if self.verifier is None:
            raise signing.SigningError(intent.signer, "no signature verifier is configured")
        verified = self.verifier.verify(signed.signature, signed.payload, signing.NAMESPACE)
        method = getattr(self, intent.action)
        args = signing.decode_args(method, intent.args)
        if ACTIONS[intent.action](args) != intent.target:
            raise signing.SigningError(intent.signer, "the intent's target does not match its action")
        self._authenticate(intent, verified, args)
        if exact_version and (at := self.target_version(intent.target)) != intent.version:
            raise signing.StaleIntent(intent.signer, f"signed for {intent.target} at version "
                                      f"{intent.version}, but it is at version {at}: read it "
                                      "again and sign again")
        state = signing.Acting(
            signature=Signature(
                signer=intent.signer,
                key=verified.fingerprint,
                signature=signing.armored(signed.signature),
                signed=base64.b64encode(signed.payload).decode("ascii"),
            ),
            target_id=signing.target_id(intent.target),
            version=intent.version,
        )
        with signing.acting(state):
            return method(**args, actor=intent.signer)

    def _authenticate(self, intent: signing.Intent, verified: VerifiedSignature, args: dict) -> None:
        """The roster must hold the signing key for the signer at the time signed.
        Founding is the one exception: the founder's key is the one being founded."""
        if intent.action == "found_roster":
            claimed = args.get("public_key")
            if not claimed or parse_public_key_line(claimed).blob != verified.public_key:
                raise signing.SigningError(
                    intent.signer, "founding the roster must be signed with the founder's key"
                )
            return
        roster = self._roster_for(intent.signer)
        if intent.action == "add_key" and not roster.all_keys() and args.get("person") == intent.signer:
            # A roster founded before keys existed holds none: its administrator
            # registers their own first key, proving possession by signing with it.
            if parse_public_key_line(args["public_key"]).blob != verified.public_key:
                raise signing.SigningError(
                    intent.signer, "a first key is registered by signing with that key"
                )
            return
        roster.authenticate(intent.signer, verified.public_key, intent.at)

    def target_version(self, target: str) -> int:
        """The version a signed intent for `target` must name (0: not yet recorded):
        its last stored event's, read without replaying the record."""
        last = self.recorder.select_events(signing.target_id(target), desc=True, limit=1)
        return last[0].originator_version if last else 0

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
