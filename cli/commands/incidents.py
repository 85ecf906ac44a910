"""`opsledger incidents [filters]` and `incidents export --ticket KEY`.

The list reads the incidents view across every ticket; the export writes the
retrospective the runbook asks for: `reports/live/<date>/<ticket>/sla_incidents.md`.
"""

from __future__ import annotations

from datetime import datetime

import click
from opsledger.cli.options import UtcDateTime, count, json_option
from opsledger.cli.output import emit, note, table
from opsledger.cli.progress import ViewProgress
from opsledger.domain.runbook import Severity
from opsledger.services.incidents import format_duration, list_incidents, write_report


def _number(value: float | None, unit: str | None) -> str | None:
    return None if value is None else f"{value:g}{unit or ''}"


@click.group("incidents", invoke_without_command=True)
@click.option("--metric", help="Only this metric, e.g. metrics.execution.latency.")
@click.option("--strategy", help="Only breaches of this strategy.")
@click.option("--severity", type=click.Choice([s.value for s in Severity]), help="Only this severity.")
@click.option("--since", type=UtcDateTime(), help="Breaches that started at or after this UTC time.")
@click.option("--until", type=UtcDateTime(), help="Breaches that started before this UTC time.")
@click.option("--ticket", metavar="KEY", help="Only breaches recorded on this ticket.")
@click.option("--limit", type=count(), help="At most this many breaches.")
@json_option
@click.pass_context
def incidents_group(
    ctx: click.Context,
    metric: str | None,
    strategy: str | None,
    severity: str | None,
    since: datetime | None,
    until: datetime | None,
    ticket: str | None,
    limit: int | None,
    json_output: bool,
) -> None:
    """Every SLA breach across tickets, oldest first, filtered as asked."""
    if ctx.invoked_subcommand is not None:
        return
    with ViewProgress(enabled=not json_output) as progress:
        rows = list_incidents(ctx.obj, metric=metric, strategy=strategy, severity=severity,
                              since=since, until=until, ticket=ticket, limit=limit,
                              progress=progress)
    emit(
        rows,
        json_output=json_output,
        human=lambda: table(
            [(r["window_start"], r["ticket"], r["strategy"], r["metric"], r["severity"],
              _number(r["observed"], r["unit"]), _number(r["threshold"], r["unit"]),
              format_duration(r["duration_s"]), r["escalation"], r["incident_ref"] or None) for r in rows],
            ["START (UTC)", "TICKET", "STRATEGY", "METRIC", "SEVERITY", "OBSERVED", "THRESHOLD",
             "DURATION", "ESCALATION", "INCIDENT"],
        ),
    )


@incidents_group.command("export")
@click.option("--ticket", "key", required=True, metavar="KEY", help="The change ticket of the session.")
@click.option(
    "--output",
    type=click.Path(),
    help="File, or folder (existing, or ending in /) to write sla_incidents.md into "
    "[default reports/live/<session date>/<ticket>/].",
)
@json_option
@click.pass_obj
def export(obj, key: str, output: str | None, json_output: bool) -> None:
    """Write sla_incidents.md for ticket KEY: each breach, its escalation, its incident ticket,
    time to detect and time to resolve where the events allow."""
    path, breaches, position = write_report(obj, key, output)
    emit(
        {"ticket": key, "path": str(path), "breaches": breaches, "position": position},
        json_output=json_output,
        human=lambda: str(path),
    )
    if not json_output:
        note(f"opsledger: {breaches} breach(es) of {key} written to {path}")


def register(cli: click.Group) -> None:
    cli.add_command(incidents_group)
