"""On-call shift acceptance (runbook section 5): four start-of-shift steps,
the shift accepted once all four are logged."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import ShiftStep
from opsledger.services.files import file_digest

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def _today() -> date:
    return datetime.now(UTC).date()


def log_shift_step(
    services: Services,
    step: ShiftStep,
    *,
    operator: str | None,
    day: date | None,
    note: str,
    ticket: str | None,
    attach: Path | None,
    actor: str,
) -> dict[str, Any]:
    """Logs `step` of `operator`'s shift (default: the actor's, today UTC);
    an attached file is recorded by its SHA-256 and size."""
    operator = operator or actor
    day = day or _today()
    attachment = None
    if attach is not None:
        sha256, size = file_digest(attach)
        attachment = (str(attach), sha256, size)
    accepted, missing = services.app.log_shift_step(
        operator=operator,
        day=day,
        step=step,
        actor=actor,
        note=note,
        ticket=ticket,
        attachment=attachment,
    )
    return {
        "operator": operator,
        "date": day,
        "step": step.value,
        "accepted": accepted,
        "missing": [s.value for s in missing],
    }


def shift_document(services: Services, operator: str, day: date | None) -> dict[str, Any]:
    """`operator`'s shift of `day` (default today UTC): each step, logged or not."""
    day = day or _today()
    shift = services.app.get_shift(operator, day)
    steps = [
        {
            "step": s.value,
            "title": s.title,
            "logged": s in shift.steps,
            **(
                {
                    "by": shift.steps[s]["actor"],
                    "note": shift.steps[s]["note"],
                    "ticket": shift.steps[s]["ticket"],
                    "attachment": shift.steps[s]["attachment"],
                }
                if s in shift.steps
                else {}
            ),
        }
        for s in ShiftStep
    ]
    return {"operator": operator, "date": day, "accepted": shift.accepted, "steps": steps}
