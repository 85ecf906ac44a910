"""SLA monitoring packet (runbook section 3): policy, export parsing, breach detection.

Typical use, with the caller opening files::

    policy = load_policy(path.read_bytes(), str(path))            # or Policy() for the runbook
    series = [s for p in exports for s in read_prometheus(p.read_bytes(), str(p))]
    alerts = read_alertmanager(webhook_log.read_bytes(), str(webhook_log))
    result = evaluate(policy, series, alerts, since=session_open, until=session_close)
    for breach in result.breaches: ...
"""

from opsledger.domain.sla.alertmanager import Alert, iter_alertmanager, read_alertmanager
from opsledger.domain.sla.breach import Breach, breach_identity
from opsledger.domain.sla.detect import Evaluation, SeriesReport, evaluate
from opsledger.domain.sla.errors import EvaluationError, ExportError, PolicyError, SlaError
from opsledger.domain.sla.policy import (
    HeartbeatRule,
    Matcher,
    Policy,
    ThresholdRule,
    runbook_rules,
)
from opsledger.domain.sla.policy_loader import load_policy
from opsledger.domain.sla.policy_template import policy_template
from opsledger.domain.sla.prometheus import iter_prometheus, read_prometheus
from opsledger.domain.sla.series import MergedSeries, Series, merge_series

__all__ = [
    "Alert",
    "Breach",
    "Evaluation",
    "EvaluationError",
    "ExportError",
    "HeartbeatRule",
    "Matcher",
    "MergedSeries",
    "Policy",
    "PolicyError",
    "SeriesReport",
    "Series",
    "SlaError",
    "ThresholdRule",
    "breach_identity",
    "evaluate",
    "iter_alertmanager",
    "iter_prometheus",
    "load_policy",
    "merge_series",
    "policy_template",
    "read_alertmanager",
    "read_prometheus",
    "runbook_rules",
]
