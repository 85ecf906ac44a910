"""`opsledger sla`: the SLA monitoring packet (runbook section 3).

`evaluate` reads Prometheus exports, `alerts` reads Alertmanager webhooks;
both detect breaches against the desk's policy and record each one once.
Every input is read and checked before anything is recorded, and all of a
run's breaches are recorded in one transaction: nothing is half-recorded.
"""

from __future__ import annotations

import hashlib
import math
import sys
from datetime import datetime
from pathlib import Path

import click
from opsledger.cli.errors import INVALID, CliError
from opsledger.cli.options import UtcDateTime, actor_of, actor_option, json_option, role_option
from opsledger.cli.output import emit, note, table
from opsledger.domain.runbook import Role, Severity
from opsledger.domain.sla import (
    Breach,
    Evaluation,
    Policy,
    evaluate,
    load_policy,
    read_alertmanager,
    read_prometheus,
)

POLICY_FILE = "sla-policy.toml"


@click.group("sla")
def sla_group() -> None:
    """SLA breaches: detect them in metric exports and alerts, or record by hand."""


def _policy(obj, path: Path | None) -> tuple[Policy, str]:
    """--policy FILE, else $OPSLEDGER_HOME/sla-policy.toml, else the runbook's packet."""
    if path is None:
        default = obj.settings.home / POLICY_FILE
        if not default.is_file():
            return Policy(), "runbook defaults"
        path = default
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}", INVALID) from None
    return load_policy(data, str(path)), str(path)


policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Desk policy (TOML or JSON) [default $OPSLEDGER_HOME/{POLICY_FILE}, else the runbook's].",
)
window_options = [
    click.option(
        "--since", type=UtcDateTime(), help="Session start (UTC) [default: first sample]."
    ),
    click.option("--until", type=UtcDateTime(), help="Session end (UTC) [default: last sample]."),
]


def _read(path: str) -> tuple[bytes, str]:
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    try:
        return Path(path).read_bytes(), path
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}", INVALID) from None


def breach_record(breach: Breach, incident_ref: str) -> dict:
    """A detected breach as the ticket event's fields."""
    return {**breach.model_dump(), "incident_ref": incident_ref}


def _record(
    obj,
    key: str,
    evaluation: Evaluation,
    *,
    dry_run: bool,
    incident_ref: str,
    actor: str,
    role: Role | None,
    json_output: bool,
) -> None:
    obj.app.get_ticket(key)  # a wrong key fails before anything is shown as recorded
    breaches = list(evaluation.breaches)
    new: set[str] = set()
    if not dry_run and breaches:
        new = set(
            obj.app.record_breaches(
                key,
                breaches=[breach_record(b, incident_ref) for b in breaches],
                actor=actor,
                role=role,
            )
        )
    rows = [
        {
            **b.model_dump(mode="json"),
            "observed": _number(b.observed),
            "recorded": (b.breach_id in new) if not dry_run else None,
        }
        for b in breaches
    ]
    document = {
        "ticket": key,
        "dry_run": dry_run,
        "breaches": rows,
        "new": len(new),
        "already_recorded": 0 if dry_run else len(breaches) - len(new),
        "rules_without_data": list(evaluation.rules_without_data),
        "unmatched_series": list(evaluation.unmatched_series),
        "unmatched_alerts": list(getattr(evaluation, "unmatched_alerts", ())),
    }

    def human() -> str:
        if not rows:
            return f"{key}: no SLA breach found"
        lines = [
            table(
                [
                    (
                        r["rule"],
                        r["severity"],
                        f"{r['window_start']} .. {r['window_end']}",
                        f"{r['observed']} {r['unit']}",
                        r["comparison"],
                        "dry-run" if dry_run else ("new" if r["recorded"] else "seen"),
                    )
                    for r in rows
                ],
                ["RULE", "SEVERITY", "WINDOW", "OBSERVED", "THRESHOLD", "RECORD"],
            )
        ]
        verb = "would record" if dry_run else "recorded"
        lines.append(
            f"{key}: {len(rows)} breach(es); {verb} {len(rows) if dry_run else len(new)} new"
        )
        return "\n".join(lines)

    emit(document, json_output=json_output, human=human)
    for rule in evaluation.rules_without_data:
        note(f"opsledger: warning: no data for rule {rule}")


def _number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


@sla_group.command("evaluate")
@click.argument("key")
@click.argument("files", nargs=-1, required=True)
@policy_option
@window_options[0]
@window_options[1]
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@click.option("--incident", "incident_ref", default="", help="Incident ticket to cross-link.")
@actor_option
@role_option(required=False)
@json_option
@click.pass_obj
def evaluate_cmd(
    obj,
    key: str,
    files: tuple[str, ...],
    policy_path: Path | None,
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    incident_ref: str,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Detect SLA breaches in Prometheus exports (query/query_range JSON, plain
    or .gz; '-' reads stdin) and record them on ticket KEY."""
    policy, _ = _policy(obj, policy_path)
    series = []
    for path in files:
        data, source = _read(path)
        series.extend(read_prometheus(data, source))
    evaluation = evaluate(policy, series, since=since, until=until)
    _record(
        obj,
        key,
        evaluation,
        dry_run=dry_run,
        incident_ref=incident_ref,
        actor=actor_of(obj, actor_override),
        role=role,
        json_output=json_output,
    )


@sla_group.command("alerts")
@click.argument("key")
@click.argument("file")
@policy_option
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@click.option("--incident", "incident_ref", default="", help="Incident ticket to cross-link.")
@actor_option
@role_option(required=False)
@json_option
@click.pass_obj
def alerts_cmd(
    obj,
    key: str,
    file: str,
    policy_path: Path | None,
    dry_run: bool,
    incident_ref: str,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Record firing Alertmanager alerts (webhook v4 JSON, or JSON lines; '-'
    reads stdin) as SLA breaches on ticket KEY."""
    policy, _ = _policy(obj, policy_path)
    data, source = _read(file)
    evaluation = evaluate(policy, alerts=read_alertmanager(data, source))
    _record(
        obj,
        key,
        evaluation,
        dry_run=dry_run,
        incident_ref=incident_ref,
        actor=actor_of(obj, actor_override),
        role=role,
        json_output=json_output,
    )


@sla_group.group("policy")
def policy_group() -> None:
    """Show or check the desk's SLA policy."""


@policy_group.command("show")
@policy_option
@json_option
@click.pass_obj
def policy_show(obj, policy_path: Path | None, json_output: bool) -> None:
    """Print the policy in force (the runbook's packet unless the desk has its own)."""
    policy, origin = _policy(obj, policy_path)
    document = {"source": origin, **policy.model_dump(mode="json")}
    emit(
        document,
        json_output=json_output,
        human=lambda: "\n".join(
            [
                f"SLA policy of desk {policy.desk!r} ({origin})",
                table(
                    [
                        (r.id, r.metric, r.comparison, r.severity, r.escalation)
                        for r in policy.rules
                    ],
                    ["RULE", "METRIC", "THRESHOLD", "SEVERITY", "ESCALATION"],
                ),
            ]
        ),
    )


@policy_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def policy_check(obj, file: Path) -> None:
    """Validate a policy FILE; exit 0 if valid, 2 with the first problem if not."""
    policy, _ = _policy(obj, file)
    click.echo(f"{file}: valid ({len(policy.rules)} rules, desk {policy.desk!r})")


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
    """Record an SLA breach by hand on ticket KEY. The same breach twice is recorded once."""
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
