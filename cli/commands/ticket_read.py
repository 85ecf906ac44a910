"""`opsledger ticket show|list`: tickets as they stand, or as they stood.

Both read the tickets view, caught up first; `show --as-of/--at-position`
replays the ticket's own events up to that moment instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from opsledger.cli.options import UtcDateTime, count, json_option
from opsledger.cli.output import emit, table
from opsledger.cli.progress import ViewProgress
from opsledger.services.queries import INCOMPLETE_LOG, ticket_document, ticket_rows

STATUSES = ("open", "no-go", "go", "deployed", "settled", "halted", "archived", "closed")


@click.command("show")
@click.argument("key")
@click.option("--as-of", "as_of", type=UtcDateTime(), help="Show it as it stood at this UTC time.")
@click.option(
    "--at-position",
    type=count(),
    help="Show it as it stood once the log reached this position.",
)
@json_option
@click.pass_obj
def show(obj, key: str, as_of: datetime | None, at_position: int | None, json_output: bool) -> None:
    """The state of ticket KEY: gate, evidence, approvals, commands, flag, breaches, archive."""
    if as_of is not None and at_position is not None:
        raise click.UsageError("give --as-of or --at-position, not both")
    with ViewProgress(enabled=not json_output) as progress:
        doc = ticket_document(obj, key, as_of=as_of, at_position=at_position, progress=progress,
                              with_flag=not json_output)
    emit(doc, json_output=json_output, human=lambda: render(doc))


def _who(record: dict[str, Any]) -> str:
    return f"{record['actor']} ({record['role']})" if record.get("role") else record["actor"]


def _flag(value: Any) -> str:
    return "unknown" if value is None else ("true" if value else "false")


def _outcome(command: dict[str, Any]) -> str:
    if command["outcome"]:
        if INCOMPLETE_LOG in (command.get("detail") or ""):  # e.g. the disk filled up
            return f"{command['outcome']} (log incomplete)"
        return command["outcome"]
    return "abandoned (recorder gone)" if command.get("recorder") == "gone" else "running"


def _live_enabled(doc: dict[str, Any]) -> str:
    """The flag as recorded now (what `flag get` says) and as a run of this
    ticket last observed it; `unknown` only when neither is known."""
    observation = doc["last_flag_observation"]
    observed = f"{_flag(doc['live_enabled'])} observed {observation['at']}" if observation else ""
    if "live_enabled_recorded" not in doc:  # a past state (--as-of): the observation only
        return observed or "unknown (no run of this ticket observed it)"
    recorded = doc["live_enabled_recorded"]
    now = "unset (never set with 'flag set')" if recorded is None else f"{_flag(recorded)} (flag set)"
    if not observation:
        return f"{now}; no run of this ticket observed it yet"
    if recorded == doc["live_enabled"]:
        return f"{_flag(recorded)} (flag set; {observed.split(' ', 1)[1]} after a run)"
    return f"{now}; {observed} after a run"


def render(doc: dict[str, Any]) -> str:
    lines = []
    as_of = doc.get("as_of")
    if as_of:
        moment = f"position {as_of['position']}" if as_of["position"] else as_of["time"]
        lines.append(f"as it stood at {moment} (last event at position {doc['position']})")
    title = f" - {doc['title']}" if doc["title"] else ""
    lines += [
        f"{doc['ticket']}{title}",
        f"  status         {doc['status']}",
        f"  strategy       {doc['strategy']}, session {doc['session_date']}",
        f"  environment    requested {doc['requested_env']}, effective {doc['effective_env']}",
        f"  artifact       {doc['artifact_digest']}",
        f"  opened         {doc['opened_at']} by {_who(doc['opened_by'])}",
    ]
    gate = doc["gate"]
    if gate:
        missing = f", missing: {', '.join(gate['missing'])}" if gate["missing"] else ""
        lines.append(f"  gate           {gate['decision'].upper()} at {gate['at']}{missing}")
    else:
        lines.append("  gate           not evaluated")
    missing_now = ", ".join(doc["missing_checks"]) or "nothing"
    lines.append(f"  missing now    {missing_now}")
    lines.append(f"  live.enabled   {_live_enabled(doc)}")
    severities = ", ".join(f"{n} {s}" for s, n in sorted(doc["breaches_by_severity"].items()))
    lines.append(f"  SLA breaches   {doc['breach_count']}{f' ({severities})' if severities else ''}")
    archive = doc["archives"][-1] if doc["archives"] else None
    where = f" {archive['location']} sha256 {archive['archive_sha256'][:12]}…" if archive else ""
    lines.append(f"  archive        {doc['archive_status']}{where}")
    closed = doc["closed"]
    lines.append(f"  closed         {closed['at'] + ' by ' + closed['actor'] if closed else 'no'}")

    evidence = [
        (check, e["path"], e["sha256"][:12], _who(e), e["at"],
         f"superseded: {e['superseded']['reason']}" if e["superseded"] else "current")
        for check, records in sorted(doc["evidence"].items())
        for e in records
    ]
    if evidence:
        lines += ["", "evidence", table(evidence, ["CHECK", "PATH", "SHA256", "BY", "AT", "STATE"])]
    if doc["approvals"]:
        approvals = [(name, a["reference"], _who(a), a["at"]) for name, a in sorted(doc["approvals"].items())]
        lines += ["", "approvals", table(approvals, ["APPROVAL", "REFERENCE", "BY", "AT"])]
    if doc["commands"]:
        commands = [
            (c["run_id"], c["command"], c["env"], c["started_at"], _outcome(c),
             c["exit_code"], (c["log_sha256"] or "")[:12] or None)
            for c in doc["commands"]
        ]
        lines += ["", "commands", table(commands, ["RUN", "COMMAND", "ENV", "STARTED", "OUTCOME", "EXIT", "LOG SHA256"])]
    if doc["flag_mismatches"]:
        mismatches = [(m["run_id"], m["flag"], _flag(m["expected"]), _flag(m["observed"]), m["at"])
                      for m in doc["flag_mismatches"]]
        lines += ["", "flag mismatches", table(mismatches, ["RUN", "FLAG", "EXPECTED", "OBSERVED", "AT"])]
    return "\n".join(lines)


@click.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets in this status.")
@click.option("--strategy", help="Only tickets of this strategy.")
@click.option("--limit", type=count(), help="At most this many tickets.")
@json_option
@click.pass_obj
def list_tickets(obj, status: str | None, strategy: str | None, limit: int | None, json_output: bool) -> None:
    """Every ticket with its status, environments and breach count, oldest first."""
    with ViewProgress(enabled=not json_output) as progress:
        rows = ticket_rows(obj, status=status, strategy=strategy, limit=limit, progress=progress)
    emit(
        rows,
        json_output=json_output,
        human=lambda: table(
            [(r["ticket"], r["strategy"], r["status"], r["requested_env"], r["effective_env"],
              r["breach_count"], r["opened_at"]) for r in rows],
            ["TICKET", "STRATEGY", "STATUS", "REQUESTED", "EFFECTIVE", "BREACHES", "OPENED"],
        ),
    )


def register(cli: click.Group) -> None:
    """Adds show and list to the `ticket` group (open/close live in cli/commands/ticket.py)."""
    group = cli.commands.get("ticket")
    if not isinstance(group, click.Group):
        raise RuntimeError("register cli.commands.ticket before cli.commands.ticket_read")
    group.add_command(show)
    group.add_command(list_tickets)
