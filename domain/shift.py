"""On-call shift acceptance (runbook section 5).

A shift is accepted only once all four start-of-shift steps are logged; the
acceptance is its own event so that nobody has to recount steps to know it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event
from opsledger.domain.errors import InvalidInput, WrongRole
from opsledger.domain.model import Aggregate, Created, derive_id
from opsledger.domain.runbook import ShiftStep
from opsledger.domain.ticket import SHA256_HEX, validate_key, validate_text

OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def shift_id(operator: str, day: date) -> UUID:
    return derive_id("shift", f"{operator}/{day.isoformat()}")


class Shift(Aggregate):
    TOPIC = "opsledger.shift"

    class Started(Created):
        TOPIC: ClassVar[str] = "opsledger.shift.Started"
        operator: str
        day: date

    class StepLogged(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.shift.StepLogged"
        step: ShiftStep
        note: str
        ticket: str | None
        attachment_path: str | None = None
        attachment_sha256: str | None = None
        attachment_size: int | None = None
        actor: str

    class Accepted(Aggregate.Event):
        TOPIC: ClassVar[str] = "opsledger.shift.Accepted"
        operator: str
        actor: str

    @staticmethod
    def create_id(operator: str, day: date, **_: Any) -> UUID:
        return shift_id(operator, day)

    @classmethod
    def start(cls, operator: str, day: date) -> Shift:
        if not OPERATOR.fullmatch(operator):
            raise InvalidInput(repr(operator), "not an operator name")
        return cls(operator=operator, day=day)

    @event(Started)
    def __init__(self, *, operator: str, day: date) -> None:
        self.operator = operator
        self.day = day
        self.steps: dict[ShiftStep, dict[str, Any]] = {}
        self.accepted = False

    @property
    def subject(self) -> str:
        return f"shift {self.operator}/{self.day.isoformat()}"

    def missing_steps(self) -> list[ShiftStep]:
        return [s for s in ShiftStep if s not in self.steps]

    def log_step(
        self,
        *,
        step: ShiftStep,
        actor: str,
        note: str = "",
        ticket: str | None = None,
        attachment: tuple[str, str, int] | None = None,
    ) -> bool:
        """Logs a step; returns True when this step completes the acceptance."""
        if actor != self.operator:
            raise WrongRole(
                self.subject, f"only {self.operator}, who takes the shift, logs its steps"
            )
        if ticket is not None:
            validate_key(ticket)
        validate_text(self.subject, "note", note)
        if step is ShiftStep.HEARTBEAT_TESTED and attachment is None:
            raise InvalidInput(
                self.subject, "the heartbeat test step needs the confirmation screenshot attached"
            )
        path, sha256, size = attachment if attachment else (None, None, None)
        if sha256 is not None and not SHA256_HEX.fullmatch(sha256):
            raise InvalidInput(self.subject, "attachment digest must be sha256 hex")
        self._log_step(
            step=step,
            note=note,
            ticket=ticket,
            attachment_path=path,
            attachment_sha256=sha256,
            attachment_size=size,
            actor=actor,
        )
        if not self.accepted and not self.missing_steps():
            self._accept(operator=self.operator, actor=actor)
            return True
        return False

    @event(StepLogged)
    def _log_step(
        self,
        step: ShiftStep,
        note: str,
        ticket: str | None,
        attachment_path: str | None,
        attachment_sha256: str | None,
        attachment_size: int | None,
        actor: str,
    ) -> None:
        self.steps[ShiftStep(step)] = {
            "note": note,
            "ticket": ticket,
            "attachment": attachment_path,
            "actor": actor,
        }

    @event(Accepted)
    def _accept(self, operator: str, actor: str) -> None:
        self.accepted = True
