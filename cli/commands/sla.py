"""`opsledger sla breach`: record an SLA breach by hand (runbook section 3)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import click

from cli.options import UtcDateTime, actor_of, actor_option, json_option, role_option
from cli.output import emit
from domain.runbook import Role, Severity


@click.group("sla")
def sla_group() -> None:
    """SLA breaches of the monitoring packet."""


@sla_group.command("breach")
@click.argument("key")
@click.option("--metric", required=True, help="e.g. metrics.execution.latency")
@click.option("--observed", type=float, required=True, help="Worst observed value.")
@click.option("--threshold", type=float, help="The threshold that was crossed.")
@click.option("--unit", default="", help="Unit of observed/threshold (ms, %, s).")
@click.option("--comparison", default="", help='The rule in words, e.g. "p95 < 120 ms".')
@click.option(
    "--start", "window_start", type=UtcDateTime(), required=True, help="Breach start (UTC)."
)
@click.option("--end", "window_end", type=UtcDateTime(), help="Breach end (UTC), if over.")
@click.option(
    "--severity",
    type=click.Choice([s.value for s in Severity]),
    default="warning",
    show_default=True,
)
@click.option("--escalation", required=True, help="Who was engaged, e.g. Execution Trader.")
@click.option("--incident", "incident_ref", default="", help="Incident ticket reference.")
@click.option("--detail", default="", help="One line on what happened.")
@actor_option
@role_option(required=False)
@json_option
@click.pass_obj
def breach(
    obj,
    key: str,
    metric: str,
    observed: float,
    threshold: float | None,
    unit: str,
    comparison: str,
    window_start: datetime,
    window_end: datetime | None,
    severity: str,
    escalation: str,
    incident_ref: str,
    detail: str,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Record an SLA breach on ticket KEY. The same breach twice is recorded once."""
    if window_end is not None and window_end < window_start:
        raise click.BadParameter("--end is before --start")
    identity = f"manual|{key}|{metric}|{window_start.isoformat()}"
    breach_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
    recorded = obj.app.record_breach(
        key,
        breach={
            "breach_id": breach_id,
            "rule": "manual",
            "metric": metric,
            "labels": {},
            "threshold": threshold,
            "unit": unit,
            "comparison": comparison,
            "observed": observed,
            "window_start": window_start,
            "window_end": window_end,
            "samples": 0,
            "severity": Severity(severity),
            "escalation": escalation,
            "source": "manual",
            "detail": detail,
            "incident_ref": incident_ref,
        },
        actor=actor_of(obj, actor_override),
        role=role,
    )
    emit(
        {"ticket": key, "breach_id": breach_id, "recorded": recorded},
        json_output=json_output,
        human=lambda: (
            f"{key}: breach {breach_id} on {metric} "
            + ("recorded" if recorded else "was already recorded")
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(sla_group)
