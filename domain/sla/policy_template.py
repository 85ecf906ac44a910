"""`opsledger sla policy init`: the runbook's packet as a policy file, every key explained.

The text is built from ``runbook_rules()``, so it always states the defaults in force;
loading it back gives ``Policy()`` exactly (tests hold it to that).
"""

from __future__ import annotations

import json
from typing import Any

from opsledger.domain.sla.policy import HeartbeatRule, runbook_rules

HEADER = """\
# The desk's SLA policy (runbook section 3), read by `opsledger sla evaluate` and
# `opsledger sla alerts` from $OPSLEDGER_HOME/sla-policy.toml, or --policy FILE.
# Written by `opsledger sla policy init`: the runbook's defaults, every key explained.
# Check a change with `opsledger sla policy check FILE`.
#
# A desk states only what differs: with defaults = "runbook", a [rules.<id>] table
# for a runbook rule overrides just the keys it names; a new id needs `kind`.

desk = {desk}  # the desk's name, shown by `sla policy show`
defaults = "runbook"  # "runbook": layer this file over the runbook's rules; "none": only these
"""

# One comment per key, in the order the keys are written.
COMMON = {
    "kind": '"heartbeat": beats must keep coming; "threshold": an upper bound per sample',
    "metric": "Prometheus metric name (__name__); dots and underscores count as equal",
    "matchers": """label matchers the series must satisfy, PromQL style: ['desk="rates"', 'env=~"prod|dr"']""",
    "severity": '"warning", "critical" or "page"',
    "escalation": "who is engaged: printed with the breach and in sla_incidents.md",
    "enabled": "false: the rule is not evaluated (its series then count as unmatched)",
    "alertnames": "Alertmanager alertnames that breach this rule (an sla_rule or guardrail label equal to the rule id does too)",
}
HEARTBEAT = {
    "interval_seconds": "the expected time between beats",
    "max_gap_intervals": "a gap longer than this many intervals is a breach",
    "page_after_misses": "this many consecutive missed intervals raise the severity to page",
    "beat": '"sample": any sample is a beat; "increase": the value must change (a counter or _timestamp_seconds gauge)',
    "absent_is_down": "true: a series absent from every export is down for the whole range (default: no data, nothing recorded)",
}
THRESHOLD = {
    "threshold": "breached by a value above it (a value equal to it complies)",
    "unit": "the unit of threshold and of recorded values",
    "statistic": "what the series measures, in words (p95, drift, ...)",
    "absolute": "true: compare the magnitude |value| (drift can be negative)",
    "scale": "multiplies raw samples and alert values into unit: 1000 for _seconds -> ms, 100 for a ratio -> %",
    "split_gap_seconds": "breaching samples further apart than this are separate breaches",
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def policy_template(desk: str = "default") -> str:
    """The runbook's rules as a commented TOML policy."""
    lines = [HEADER.format(desk=json.dumps(desk))]
    for rule in runbook_rules():
        own = HEARTBEAT if isinstance(rule, HeartbeatRule) else THRESHOLD
        lines.append(f"[rules.{rule.id}]")
        for key, comment in {**COMMON, **own}.items():
            value = getattr(rule, key)
            if key == "matchers":
                value = [str(m) for m in value]
            if value is None:
                lines.append(f"# {key} = 2  # {comment} (unset: never)")
                continue
            lines.append(f"{key} = {_toml(value)}  # {comment}")
        lines.append("")
    return "\n".join(lines)
