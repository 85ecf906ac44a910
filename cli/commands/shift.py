"""`opsledger shift step|show`: on-call shift acceptance (runbook section 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click
from opsledger.cli.options import (
    IsoDate,
    actor_of,
    actor_option,
    existing_file,
    file_digest,
    json_option,
)
from opsledger.cli.output import emit, table
from opsledger.domain.runbook import ShiftStep


@click.group("shift")
def shift_group() -> None:
    """Log the four start-of-shift steps; the shift is accepted after all four."""


@shift_group.command("step")
@click.argument("step", type=click.Choice([s.value for s in ShiftStep]))
@click.option("--operator", help="Who takes the shift [default: the actor].")
@click.option("--date", "day", type=IsoDate(), help="Shift date [default today, UTC].")
@click.option("--note", default="", help="What was checked.")
@click.option("--ticket", metavar="KEY", help="The change ticket the step is logged in.")
@click.option("--attach", type=existing_file, help="Evidence file (the heartbeat screenshot).")
@actor_option
@json_option
@click.pass_obj
def step(
    obj,
    step: str,
    operator: str | None,
    day: date | None,
    note: str,
    ticket: str | None,
    attach: Path | None,
    actor_override: str | None,
    json_output: bool,
) -> None:
    """Log STEP of today's shift: todo-reviewed, schedule-confirmed,
    heartbeat-tested (needs --attach), comms-walked."""
    actor = actor_of(obj, actor_override)
    day = day or datetime.now(UTC).date()
    attachment = None
    if attach is not None:
        sha256, size = file_digest(attach)
        attachment = (str(attach), sha256, size)
    accepted, missing = obj.app.log_shift_step(
        operator=operator or actor,
        day=day,
        step=ShiftStep(step),
        actor=actor,
        note=note,
        ticket=ticket,
        attachment=attachment,
    )

    def human() -> str:
        head = f"shift {operator or actor}/{day}: {step} logged"
        if accepted:
            return head + "; shift ACCEPTED"
        return head + "; not accepted yet, missing: " + ", ".join(s.value for s in missing)

    emit(
        {
            "operator": operator or actor,
            "date": day,
            "step": step,
            "accepted": accepted,
            "missing": [s.value for s in missing],
        },
        json_output=json_output,
        human=human,
    )


@shift_group.command("show")
@click.option("--operator", help="Whose shift [default: the actor].")
@click.option("--date", "day", type=IsoDate(), help="Shift date [default today, UTC].")
@json_option
@click.pass_obj
def show(obj, operator: str | None, day: date | None, json_output: bool) -> None:
    """Show a shift's steps and whether it is accepted."""
    operator = operator or actor_of(obj, None) or obj.actor
    day = day or datetime.now(UTC).date()
    shift = obj.app.get_shift(operator, day)
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
    document = {"operator": operator, "date": day, "accepted": shift.accepted, "steps": steps}
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"shift {operator}/{day}: {'ACCEPTED' if shift.accepted else 'NOT ACCEPTED'}",
                table(
                    [(s["step"], s["logged"], s.get("note", "")) for s in steps],
                    ["STEP", "LOGGED", "NOTE"],
                ),
            ]
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(shift_group)
