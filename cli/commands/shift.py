"""`opsledger shift step|show`: on-call shift acceptance (runbook section 5)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from opsledger.cli.options import (
    IsoDate,
    actor_of,
    actor_option,
    existing_file,
    json_option,
    redact_option,
)
from opsledger.cli.output import emit, table
from opsledger.domain.runbook import ShiftStep
from opsledger.services.shifts import log_shift_step, shift_document


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
@redact_option
@json_option
@click.pass_obj
def step_cmd(
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
    document = log_shift_step(
        obj,
        ShiftStep(step),
        operator=operator,
        day=day,
        note=note,
        ticket=ticket,
        attach=attach,
        actor=actor_of(obj, actor_override),
    )

    def human() -> str:
        head = f"shift {document['operator']}/{document['date']}: {step} logged"
        if document["accepted"]:
            return head + "; shift ACCEPTED"
        return head + "; not accepted yet, missing: " + ", ".join(document["missing"])

    emit(document, json_output=json_output, human=human)


@shift_group.command("show")
@click.option("--operator", help="Whose shift [default: the actor].")
@click.option("--date", "day", type=IsoDate(), help="Shift date [default today, UTC].")
@json_option
@click.pass_obj
def show_cmd(obj, operator: str | None, day: date | None, json_output: bool) -> None:
    """Show a shift's steps and whether it is accepted."""
    document = shift_document(obj, operator or actor_of(obj, None) or obj.actor, day)
    steps = document["steps"]
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"shift {document['operator']}/{document['date']}: "
                f"{'ACCEPTED' if document['accepted'] else 'NOT ACCEPTED'}",
                table(
                    [(s["step"], s["logged"], s.get("note", "")) for s in steps],
                    ["STEP", "LOGGED", "NOTE"],
                ),
            ]
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(shift_group)
