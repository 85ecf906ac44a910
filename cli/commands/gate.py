"""`opsledger gate`: the Go/No-Go rule, evaluated and recorded."""

from __future__ import annotations

import click
from opsledger.cli.errors import REFUSED
from opsledger.cli.options import actor_of, actor_option, json_option, role_option
from opsledger.cli.output import emit
from opsledger.domain.runbook import Role
from opsledger.services.records import evaluate_gate


@click.command("gate")
@click.argument("key")
@actor_option
@role_option(required=False)
@json_option
@click.pass_context
def gate(
    ctx: click.Context, key: str, actor_override: str | None, role: Role | None, json_output: bool
) -> None:
    """Evaluate the Go/No-Go rule for ticket KEY and record the decision.

    Exits 0 on go, 1 on no-go (a prod deploy now would be downgraded to
    staging), listing every missing artefact.
    """
    obj = ctx.obj
    document = evaluate_gate(obj, key, actor=actor_of(obj, actor_override), role=role)
    missing = document["missing"]

    def human() -> str:
        if not missing:
            return f"{key}: GO (all seven pre-launch artefacts attached)"
        lines = [f"{key}: NO-GO, a prod deploy would be downgraded to staging; missing:"]
        return "\n".join(lines + [f"  - {m}" for m in missing])

    emit(
        document,
        json_output=json_output,
        human=human,
    )
    if missing:
        ctx.exit(REFUSED)


def register(cli: click.Group) -> None:
    cli.add_command(gate)
