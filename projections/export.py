"""`sla_incidents.md`: the retrospective the runbook asks for (section 3).

One section per breach with its escalation and a cross-link to its incident
ticket, plus time to detect and time to resolve where the events allow:
detection is when the breach was recorded (only while it was still going on),
resolution is the end of the breach window.
The text depends on nothing but its inputs, so a re-export is byte-identical.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_URL = re.compile(r"^https?://\S+$")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    whole = int(round(seconds))
    if whole < 60:
        return f"{seconds:g} s" if seconds < 10 else f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _text(value: Any) -> str:
    return "-" if value in (None, "") else " ".join(str(value).split())


def _cell(value: Any) -> str:
    """A table cell: a pipe would end the cell."""
    return _text(value).replace("|", "\\|")


def _number(value: float | None, unit: str | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}{(' ' + unit) if unit else ''}"


def _reference(ref: str | None) -> str:
    if not ref:
        return "none recorded"
    if _URL.match(ref):
        return f"[{ref}]({ref})"
    return f"[{ref}](#incident-{_slug(ref)})"


def _window_end(incident: Mapping[str, Any]) -> str:
    if not incident["window_end"]:
        return "no end recorded (still going on when last recorded)"
    later = incident.get("end_recorded_at")
    return incident["window_end"] + (f" (end recorded {later})" if later else "")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def render_sla_incidents(
    ticket: Mapping[str, Any], incidents: Sequence[Mapping[str, Any]], *, position: int
) -> str:
    key = ticket["ticket"]
    lines = [
        f"# SLA incidents: {key}",
        "",
        f"- Strategy: {ticket['strategy']}",
        f"- Session date: {ticket['session_date']}",
        f"- Environment: requested {ticket['requested_env']}, effective {ticket['effective_env']}",
        f"- Breaches: {len(incidents)}",
        f"- Source: opsledger event log up to position {position}",
        "",
        "Time to detect: from the breach start to when it was recorded on the ticket "
        "(n/a when it was recorded after it ended). Time to resolve: from the breach "
        "start to the end of its window (n/a while no end was recorded).",
        "",
    ]
    if not incidents:
        lines += ["No SLA breach was recorded for this session.", ""]
        return "\n".join(lines)
    lines += [
        "| # | Start (UTC) | Metric | Severity | Observed | Threshold | Escalation | Incident | TTD | TTR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, i in enumerate(incidents, 1):
        lines.append(
            "| "
            + " | ".join(
                _cell(v)
                for v in (
                    number,
                    i["window_start"],
                    i["metric"],
                    i["severity"],
                    _number(i["observed"], i["unit"]),
                    _number(i["threshold"], i["unit"]),
                    i["escalation"],
                    i["incident_ref"],
                    duration(i["time_to_detect_s"]),
                    duration(i["time_to_resolve_s"]),
                )
            )
            + " |"
        )
    lines.append("")
    for number, i in enumerate(incidents, 1):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(i["labels"].items())) or "none"
        rule = _text(i["rule"]) + (f" ({i['comparison']})" if i["comparison"] else "")
        lines += [
            f"## {number}. {i['metric']} ({i['severity']})",
            "",
            f"- Rule: {rule}",
            f"- Window: {i['window_start']} to {_window_end(i)}",
            f"- Observed: {_number(i['observed'], i['unit'])} (threshold {_number(i['threshold'], i['unit'])}, "
            f"{i['samples']} samples, source {_text(i['source'])})",
            f"- Labels: {labels}",
            f"- Escalation: {_text(i['escalation'])}",
            f"- Incident ticket: {_reference(i['incident_ref'])}",
            f"- Recorded: {i['recorded_at']} by {_text(i['actor'])} (log position {i['position']})",
            f"- Time to detect: {duration(i['time_to_detect_s'])}",
            f"- Time to resolve: {duration(i['time_to_resolve_s'])}",
            f"- Detail: {_text(i['detail'])}",
            f"- Breach id: `{i['breach_id']}`",
            "",
        ]
    refs = sorted({i["incident_ref"] for i in incidents if i["incident_ref"] and not _URL.match(i["incident_ref"])})
    if refs:
        lines += ["## Incident tickets", ""]
        for ref in refs:
            breaches = [str(n) for n, i in enumerate(incidents, 1) if i["incident_ref"] == ref]
            lines += [f'<a id="incident-{_slug(ref)}"></a>', f"- {ref}: breach {', '.join(breaches)}"]
        lines.append("")
    return "\n".join(lines)
