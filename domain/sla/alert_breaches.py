"""Alertmanager alerts as breaches of the policy rules they map to.

An alert maps to a rule by an ``sla_rule`` label equal to the rule id, else by alertname.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from opsledger.domain.sla.alertmanager import Alert
from opsledger.domain.sla.breach import Breach, breach_identity, build_breach
from opsledger.domain.sla.policy import SEVERITY_RANK, HeartbeatRule, ThresholdRule

Rule = HeartbeatRule | ThresholdRule


def _alert_rule(rules: Sequence[Rule], alert: Alert) -> Rule | None:
    labels = dict(alert.labels)
    tagged = labels.get("sla_rule")
    for rule in rules:
        if tagged is not None and tagged == rule.id:
            return rule
    if tagged is None:
        for rule in rules:
            if alert.alertname in rule.alertnames:
                return rule
    return None


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_breaches(
    rules: Sequence[Rule],
    alerts: Iterable[Alert],
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[Breach], tuple[str, ...]]:
    """One breach per mapped alert, and descriptions of the alerts no rule claims."""
    # One breach per (rule, labels, start): repeats and the later "resolved" notification
    # of the same alert fold into it, keeping the latest known end.
    chosen: dict[str, tuple[Rule, Alert, int]] = {}
    unmatched: set[str] = set()
    for alert in alerts:
        rule = _alert_rule(rules, alert)
        if rule is None:
            unmatched.add(f"{alert.alertname or '<no alertname>'} in {alert.source}")
            continue
        end = _alert_end(alert)
        if (until is not None and alert.starts_at > until) or (since is not None and end < since):
            continue
        key = breach_identity(
            "alertmanager", rule.id, rule.metric, dict(alert.labels), alert.starts_at
        )
        if key in chosen:
            _, kept, count = chosen[key]
            better = (_alert_end(alert), alert.status == "resolved", alert.source) > (
                _alert_end(kept),
                kept.status == "resolved",
                kept.source,
            )
            chosen[key] = (rule, alert if better else kept, count + 1)
        else:
            chosen[key] = (rule, alert, 1)

    breaches = []
    for rule, alert, count in chosen.values():
        annotations = dict(alert.annotations)
        try:
            observed = float(annotations.get("value", "nan"))
        except ValueError:
            observed = math.nan
        labels = dict(alert.labels)
        severity = labels.get("severity")
        if severity not in SEVERITY_RANK:
            severity = rule.severity
        summary = annotations.get("summary") or annotations.get("description") or ""
        detail = f"Alertmanager alert {alert.alertname or '<no alertname>'} {alert.status}"
        if math.isnan(observed):
            detail += " (value not reported)"
        if summary:
            detail += f": {_one_line(summary)}"
        breaches.append(
            build_breach(
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
        )
    return breaches, tuple(sorted(unmatched))


def _alert_end(alert: Alert) -> datetime:
    # A firing alert's endsAt is only Alertmanager's guess at expiry, not an observed end.
    if alert.status == "resolved" and alert.ends_at is not None:
        return alert.ends_at
    return alert.starts_at
