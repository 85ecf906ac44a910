"""`opsledger sla`: the SLA monitoring packet (runbook section 3).

`evaluate` reads Prometheus exports, `alerts` reads Alertmanager webhooks;
both detect breaches against the desk's policy and record each one once
(opsledger.services.sla does the work; this module parses and renders).
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from opsledger.cli.errors import REFUSED
from opsledger.cli.options import (
    UtcDateTime,
    actor_of,
    actor_option,
    json_option,
    redact_option,
    role_option,
)
from opsledger.cli.output import emit, note, table
from opsledger.cli.progress import ProgressBar
from opsledger.domain.runbook import Role, Severity
from opsledger.services.sla import (
    POLICY_FILE,
    desk_policy,
    evaluate_exports,
    policy_document,
    record_alerts,
    record_manual_breach,
    starter_policy,
)
from opsledger.services.sla_snapshot import take_snapshot

# Re-exported for cli/commands/demo.py until it imports it from opsledger.services.sla.


@click.group("sla")
def sla_group() -> None:
    """SLA breaches: detect them in metric exports and alerts, or record by hand."""


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


def _stdin() -> bytes:
    return sys.stdin.buffer.read()


SHOWN = 10  # names listed per warning; --json has them all


def _names(names: list[str]) -> str:
    more = f" (and {len(names) - SHOWN} more; --json lists all)" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _show(document: dict[str, Any], json_output: bool, *, what: str, allow_unmatched: bool) -> None:
    """The breaches found, each new, ended or seen before; then what matched nothing
    and which rules had no data. Nothing matched at all: exit 1 unless allowed."""
    key, rows, dry_run = document["ticket"], document["breaches"], document["dry_run"]
    refused = document["nothing_matched"] and not allow_unmatched

    def human() -> str:
        if document["nothing_matched"]:
            held = "; nothing recorded" if refused else ""
            if not rows:
                return f"{key}: no {what} matched any SLA rule{held}"
        if not rows:
            return f"{key}: no SLA breach found"
        lines = [
            table(
                [
                    (
                        r["rule"],
                        r["severity"],
                        f"{r['window_start']} .. {r['window_end'] or 'ongoing'}",
                        f"{r['observed']} {r['unit']}",
                        r["comparison"],
                        r["record"],
                    )
                    for r in rows
                ],
                ["RULE", "SEVERITY", "WINDOW", "OBSERVED", "THRESHOLD", "RECORD"],
            )
        ]
        if dry_run:
            done = f"would record {len(rows)} new"
        elif refused:
            done = "nothing recorded"
        else:
            done = f"recorded {document['new']} new"
            if document["ended"]:
                done += f", the end of {document['ended']} recorded before"
        lines.append(f"{key}: {len(rows)} breach(es); {done}")
        return "\n".join(lines)

    emit(document, json_output=json_output, human=human)
    for label, names in (("series", document["unmatched_series"]),
                         ("alert(s)", document["unmatched_alerts"])):
        if names:
            note(f"opsledger: warning: {len(names)} {label} matched no SLA rule: {_names(names)}")
    for rule in document["rules_without_data"]:
        note(f"opsledger: warning: no data for rule {rule}: no series of it in any given file;"
             " nothing recorded for it")
    if refused:
        note(f"opsledger: error: no {what} matched any rule of the SLA policy: check the "
             "metric names and labels against 'opsledger sla policy show' (or pass "
             "--allow-unmatched)")
        raise click.exceptions.Exit(REFUSED)


allow_unmatched_option = click.option(
    "--allow-unmatched",
    is_flag=True,
    help="Exit 0 even when nothing in the input matches any rule of the policy.",
)


@sla_group.command("evaluate")
@click.argument("key")
@click.argument("files", nargs=-1, required=True)
@policy_option
@window_options[0]
@window_options[1]
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@allow_unmatched_option
@click.option("--incident", "incident_ref", default="", help="Incident ticket to cross-link.")
@actor_option
@redact_option
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
    allow_unmatched: bool,
    incident_ref: str,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Detect SLA breaches in Prometheus exports (query/query_range JSON, plain
    or .gz; '-' reads stdin) and record them on ticket KEY."""
    with ProgressBar("reading exports", enabled=not json_output) as bar:
        document = evaluate_exports(
            obj,
            key,
            files,
            policy_path=policy_path,
            since=since,
            until=until,
            dry_run=dry_run,
            allow_unmatched=allow_unmatched,
            incident_ref=incident_ref,
            actor=actor_of(obj, actor_override),
            role=role,
            read_stdin=_stdin,
            progress=bar.update,
        )
    _show(document, json_output, what="series", allow_unmatched=allow_unmatched)


@sla_group.command("alerts")
@click.argument("key")
@click.argument("file")
@policy_option
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@allow_unmatched_option
@click.option("--incident", "incident_ref", default="", help="Incident ticket to cross-link.")
@actor_option
@redact_option
@role_option(required=False)
@json_option
@click.pass_obj
def alerts_cmd(
    obj,
    key: str,
    file: str,
    policy_path: Path | None,
    dry_run: bool,
    allow_unmatched: bool,
    incident_ref: str,
    actor_override: str | None,
    role: Role | None,
    json_output: bool,
) -> None:
    """Record Alertmanager alerts (webhook v4 JSON, or JSON lines; '-' reads
    stdin) as SLA breaches on ticket KEY: firing opens one, resolved ends it."""
    document = record_alerts(
        obj,
        key,
        file,
        policy_path=policy_path,
        dry_run=dry_run,
        allow_unmatched=allow_unmatched,
        incident_ref=incident_ref,
        actor=actor_of(obj, actor_override),
        role=role,
        read_stdin=_stdin,
    )
    _show(document, json_output, what="alert", allow_unmatched=allow_unmatched)


class Duration(click.ParamType):
    """Seconds as Prometheus writes them: 15s, 1m, 2m30s, or a plain number."""

    name = "DURATION"
    UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        text, total = str(value).strip(), 0.0
        found = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            total = float(text)
        elif found and "".join(n + u for n, u in found) == text:
            total = sum(float(n) * self.UNITS[u] for n, u in found)
        if not total > 0:
            self.fail(f"{value!r} is not a duration such as 15s, 1m or 2m30s", param, ctx)
        return total


@sla_group.command("snapshot")
@click.argument("key")
@click.option("--prometheus", "url", required=True, metavar="URL",
              help="The Prometheus server, e.g. http://127.0.0.1:9090.")
@click.option("--since", type=UtcDateTime(), help="Window start (UTC) [default: first deploy].")
@click.option("--until", type=UtcDateTime(),
              help="Window end (UTC) [default: end of the settle or kill after it].")
@click.option("--step", type=Duration(), default="15s", show_default=True,
              help="query_range resolution.")
@click.option("--match", multiple=True, metavar='LABEL="VALUE"',
              help='A label matcher added to every query, e.g. strategy="momo-1" (repeatable).')
@click.option("--session-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the file goes [default reports/live/<session date>/<ticket>/].")
@policy_option
@allow_unmatched_option
@click.option("--incident", "incident_ref", default="", help="Incident ticket to cross-link.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for each answer.")
@actor_option
@redact_option
@role_option(required=False)
@json_option
@click.pass_obj
def snapshot_cmd(obj, key: str, url: str, since: datetime | None, until: datetime | None,
                 step: float, match: tuple[str, ...], session_dir: Path | None,
                 policy_path: Path | None, allow_unmatched: bool, incident_ref: str,
                 timeout: float, actor_override: str | None, role: Role | None,
                 json_output: bool) -> None:
    """Export the session's metrics from Prometheus (query_range, every SLA rule) into
    the session folder as metrics_<UTC time>.json.gz, record its digest, and record the
    breaches found in it, each once."""
    with ProgressBar("querying Prometheus", enabled=not json_output) as bar:
        document = take_snapshot(
            obj, key, url, since=since, until=until, step_seconds=step, match=match,
            session_dir=session_dir, policy_path=policy_path, allow_unmatched=allow_unmatched,
            incident_ref=incident_ref, actor=actor_of(obj, actor_override), role=role,
            timeout=timeout, progress=bar.update,
        )
    shot = document["snapshot"]
    if not json_output:
        how = "written" if shot["written"] else "unchanged, kept"
        state = "recorded" if shot["recorded"] else "was already recorded"
        note(f"{shot['path']}: {how} ({shot['series']} series, {shot['size']} B, "
             f"sha256 {shot['sha256']}); its digest {state}")
    _show(document, json_output, what="series", allow_unmatched=allow_unmatched)


@sla_group.group("policy")
def policy_group() -> None:
    """Show, start or check the desk's SLA policy."""


@policy_group.command("show")
@policy_option
@json_option
@click.pass_obj
def policy_show(obj, policy_path: Path | None, json_output: bool) -> None:
    """Print the policy in force (the runbook's packet unless the desk has its own)."""
    found = desk_policy(obj, policy_path)
    policy, origin = found.policy, found.source
    document = policy_document(found)
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


@policy_group.command("init")
def policy_init() -> None:
    """Print the runbook's policy as a starter file, every key commented:
    opsledger sla policy init > "$OPSLEDGER_HOME/sla-policy.toml"."""
    click.echo(starter_policy(), nl=False)


@policy_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def policy_check(obj, file: Path) -> None:
    """Validate a policy FILE; exit 0 if valid, 2 with the first problem if not."""
    policy = desk_policy(obj, file).policy
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
@redact_option
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
    done = record_manual_breach(
        obj,
        key,
        metric=metric,
        observed=observed,
        threshold=threshold,
        unit=unit,
        comparison=comparison,
        window_start=window_start,
        window_end=window_end,
        severity=Severity(severity),
        escalation=escalation,
        incident_ref=incident_ref,
        detail=detail,
        actor=actor_of(obj, actor_override),
        role=role,
    )
    emit(
        {"ticket": key, "breach_id": done.breach_id, "recorded": done.recorded},
        json_output=json_output,
        human=lambda: (
            f"{key}: breach {done.breach_id} on {metric} "
            + ("recorded" if done.recorded else "was already recorded")
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(sla_group)
