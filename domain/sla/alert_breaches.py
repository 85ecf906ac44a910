"""Alertmanager alerts as breaches of the policy rules they map to.

An alert's labels choose its rule: an ``sla_rule`` (or ``guardrail``) label equal to a
rule id, else its ``alertname`` listed in a rule's ``alertnames``. An alert whose
``sla_rule``/``guardrail`` names no rule is unmatched: it never falls back to its name.

A firing alert is a breach still going on (no window end); its resolved notification,
the same alert (same labels, hence fingerprint, and ``startsAt``), gives the end. Both
carry the same breach identity, so recording them in two runs records the breach once
and its end once; Alertmanager's resends fold into the same breach.

The ``value`` annotation is in the alert's raw unit: a threshold rule's ``scale`` (and
``absolute``) apply to it as to exported samples, so a p95 of 0.143 s is 143 ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from opsledger.domain.sla.alertmanager import Alert
from opsledger.domain.sla.breach import Breach, breach_identity, build_breach, number_text
from opsledger.domain.sla.policy import SEVERITY_RANK, HeartbeatRule, ThresholdRule

Rule = HeartbeatRule | ThresholdRule
RULE_LABELS = ("sla_rule", "guardrail")


def alert_rule(rules: Sequence[Rule], alert: Alert) -> tuple[Rule | None, str]:
    """The rule an alert maps to, or None and why not."""
    labels = dict(alert.labels)
    for label in RULE_LABELS:
        tagged = labels.get(label)
        if tagged is not None:
            for rule in rules:
                if rule.id == tagged:
                    return rule, ""
            return None, f'{label}="{tagged}" names no enabled rule'
    for rule in rules:
        if alert.alertname in rule.alertnames:
            return rule, ""
    return None, ""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rank(alert: Alert) -> tuple[bool, datetime, bool, str]:
    end = _alert_end(alert)
    return (end is not None, end or alert.starts_at, alert.status == "resolved", alert.source)


def alert_breaches(
    rules: Sequence[Rule],
    alerts: Iterable[Alert],
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[Breach], tuple[str, ...], int]:
    """One breach per mapped alert, descriptions of the alerts no rule claims, and how
    many notifications a rule did claim."""
    # One breach per (rule, labels, start): repeats and the later "resolved" notification
    # of the same alert fold into it, keeping the latest known end.
    chosen: dict[str, tuple[Rule, Alert, int]] = {}
    unmatched: set[str] = set()
    matched = 0
    for alert in alerts:
        rule, why = alert_rule(rules, alert)
        if rule is None:
            why = f" ({why})" if why else ""
            unmatched.add(f"{alert.alertname or '<no alertname>'} in {alert.source}{why}")
            continue
        matched += 1
        key = breach_identity(
            "alertmanager", rule.id, rule.metric, dict(alert.labels), alert.starts_at
        )
        if key in chosen:
            _, kept, count = chosen[key]
            chosen[key] = (rule, alert if _rank(alert) > _rank(kept) else kept, count + 1)
        else:
            chosen[key] = (rule, alert, 1)
    # The range is judged on what the notifications tell together: a firing one says
    # nothing of the end that its resolved one, in the same batch, gives.
    breaches = [
        _breach(rule, alert, count)
        for rule, alert, count in chosen.values()
        if _in_range(alert, since, until)
    ]
    return breaches, tuple(sorted(unmatched)), matched


def _breach(rule: Rule, alert: Alert, count: int) -> Breach:
    annotations = dict(alert.annotations)
    try:
        raw = float(annotations.get("value", "nan"))
    except ValueError:
        raw = math.nan
    observed = raw
    if isinstance(rule, ThresholdRule):
        observed = (abs(raw) if rule.absolute else raw) * rule.scale
    labels = dict(alert.labels)
    severity = labels.get("severity")
    if severity not in SEVERITY_RANK:
        severity = rule.severity
    summary = annotations.get("summary") or annotations.get("description") or ""
    detail = f"Alertmanager alert {alert.alertname or '<no alertname>'} {alert.status}"
    if math.isnan(raw):
        detail += " (value not reported)"
    elif isinstance(rule, ThresholdRule) and rule.scale != 1.0:
        detail += f" (value {number_text(raw)} × scale {rule.scale:g})"
    if summary:
        detail += f": {_one_line(summary)}"
    return build_breach(
        rule,
        "alertmanager",
        labels,
        alert.starts_at,
        _alert_end(alert),
        observed,
        count,
        severity,  # type: ignore[arg-type]
        detail,
    )


def _in_range(alert: Alert, since: datetime | None, until: datetime | None) -> bool:
    end = _alert_end(alert)
    if until is not None and alert.starts_at > until:
        return False
    return since is None or end is None or end >= since


def _alert_end(alert: Alert) -> datetime | None:
    # A firing alert's endsAt is only Alertmanager's guess at expiry, not an observed end.
    if alert.status == "resolved" and alert.ends_at is not None:
        return alert.ends_at
    return None
