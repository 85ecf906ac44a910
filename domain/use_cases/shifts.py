"""The on-call shift's use cases: logging the start-of-shift steps until the
shift is accepted."""

from __future__ import annotations

from datetime import date

from eventsourcing.application import AggregateNotFoundError
from opsledger.domain.runbook import ACTION_AUTHORITY, ShiftStep
from opsledger.domain.shift import Shift, shift_id
from opsledger.domain.use_cases.base import UseCases


class ShiftUseCases(UseCases):
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
        self._authorise(actor, ACTION_AUTHORITY["log_shift_step"], None, "logging a shift step")

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
