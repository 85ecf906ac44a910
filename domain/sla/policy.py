"""The SLA policy: which series to watch, what counts as a breach, and who to call.

``Policy()`` is the runbook's SLA Monitoring Packet (section 3); ``policy_loader`` layers
a desk's document over it. Decisions that the runbook leaves open, made here once:

* A value exactly at a threshold is compliant: "p95 < 120 ms" is breached by 120.001 ms,
  not by 120 ms; "no gap > 1 minute" is breached by a 61 s gap, not a 60 s one.
* Threshold rules are upper bounds; ``absolute`` compares the magnitude (drift can be
  negative).
* Metric names are matched with dots and underscores treated alike, because Prometheus
  exporters turn ``metrics.execution.latency`` into ``metrics_execution_latency``.
* The runbook names no metrics for the component heartbeats nor a risk cycle length; the
  defaults below (``metrics.<component>.heartbeat``, a 15 s cycle, the Prometheus default
  scrape interval) are ours and are meant to be overridden per desk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["warning", "critical", "page"]
SEVERITY_RANK: Mapping[str, int] = {"warning": 0, "critical": 1, "page": 2}

_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER_TEXT = re.compile(
    rf'^\s*(?P<label>{_LABEL_NAME})\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*$'
)

RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:.]*$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
PositiveSeconds = Annotated[float, Field(ge=0.001, allow_inf_nan=False)]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    # Prometheus regex matchers are fully anchored.
    return re.compile(f"(?:{pattern})\\Z")


def normalise_metric(name: str) -> str:
    """The form under which metric names are compared (dots and underscores alike)."""
    return name.replace(".", "_")


class Matcher(BaseModel):
    """One Prometheus-style label matcher; an absent label matches as the empty string."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: Annotated[str, Field(pattern=f"^{_LABEL_NAME}$")]
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                _compiled(self.value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {self.value!r}: {exc}") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _compiled(self.value).match(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value)}"


def _parse_matcher_text(text: str) -> dict[str, str]:
    found = _MATCHER_TEXT.match(text)
    if found is None:
        raise ValueError(f'matcher {text!r} is not of the form label="value" (ops = != =~ !~)')
    try:
        value = json.loads(f'"{found["value"]}"')
    except json.JSONDecodeError:
        raise ValueError(f"matcher {text!r} has a bad escape sequence") from None
    return {"label": found["label"], "op": found["op"], "value": value}


def parse_matcher(text: str) -> Matcher:
    """A matcher written as PromQL, e.g. 'strategy="momo-1"' (ValueError if not)."""
    return Matcher(**_parse_matcher_text(text))


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: RuleId
    metric: MetricName
    matchers: tuple[Matcher, ...] = ()
    severity: Severity
    escalation: Text
    enabled: bool = True
    # Alertmanager alerts map to this rule by alertname, or by an ``sla_rule`` label equal
    # to the rule id.
    alertnames: tuple[Annotated[str, Field(min_length=1)], ...] = ()

    @field_validator("matchers", mode="before")
    @classmethod
    def _matchers_from_shorthand(cls, raw: Any) -> Any:
        # {"desk": "rates"} means equality; 'env=~"prod|dr"' is PromQL text.
        if isinstance(raw, Mapping):
            return tuple({"label": k, "op": "=", "value": v} for k, v in raw.items())
        if isinstance(raw, list | tuple):
            return tuple(_parse_matcher_text(m) if isinstance(m, str) else m for m in raw)
        return raw

    def selects(self, metric: str | None, labels: Mapping[str, str]) -> bool:
        if metric is None or normalise_metric(metric) != normalise_metric(self.metric):
            return False
        return all(m.matches(labels) for m in self.matchers)


class HeartbeatRule(_Rule):
    """Beats must arrive at least every ``max_gap_intervals`` × ``interval_seconds``.

    A *miss* is one expected interval that elapsed with no beat: a gap of g seconds holds
    ceil(g / interval) - 1 misses. Reaching ``page_after_misses`` consecutive misses raises
    the severity to "page".
    """

    kind: Literal["heartbeat"]
    interval_seconds: PositiveSeconds
    max_gap_intervals: Annotated[int, Field(ge=1, le=10_000)] = 1
    page_after_misses: Annotated[int, Field(ge=1, le=10_000)] | None = None
    # "sample": any non-NaN sample is a beat. "increase": the value must move (a stuck
    # counter is not alive); a decrease is a counter reset and still counts as a beat.
    beat: Literal["sample", "increase"] = "sample"
    # A series absent from every given export is "no data", not silence, unless the desk
    # says otherwise: then the whole evaluated range is one gap.
    absent_is_down: bool = False

    @property
    def max_gap_seconds(self) -> float:
        return self.max_gap_intervals * self.interval_seconds

    @property
    def unit(self) -> str:
        return "s"

    @property
    def comparison(self) -> str:
        if self.max_gap_intervals == 1:
            return f"no gap > {self.interval_seconds:g} s"
        return f"no gap > {self.max_gap_intervals} cycles of {self.interval_seconds:g} s"


class ThresholdRule(_Rule):
    """An upper bound on each sample (after ``scale``, and ``abs`` when ``absolute``)."""

    kind: Literal["threshold"]
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    unit: Annotated[str, Field(max_length=40)]
    statistic: Annotated[str, Field(min_length=1, max_length=40)] = "value"
    absolute: bool = False
    # Multiplies raw samples into ``unit``, e.g. 1000 when latency is exported in seconds.
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    # Breaching samples further apart than this are separate windows: nothing is known of
    # the time in between.
    split_gap_seconds: PositiveSeconds = 300.0

    @property
    def comparison(self) -> str:
        stat = f"|{self.statistic}|" if self.absolute else self.statistic
        return f"{stat} < {self.threshold:g} {self.unit}".rstrip()


Rule = Annotated[HeartbeatRule | ThresholdRule, Field(discriminator="kind")]


def _component_heartbeat(component: str) -> HeartbeatRule:
    return HeartbeatRule(
        kind="heartbeat",
        id=f"heartbeat_{component}",
        metric=f"metrics.{component}.heartbeat",
        interval_seconds=60.0,
        max_gap_intervals=1,
        page_after_misses=2,
        severity="warning",
        escalation="Page SRE on-call after 2 consecutive misses",
    )


def runbook_rules() -> tuple[HeartbeatRule | ThresholdRule, ...]:
    """The runbook's SLA Monitoring Packet, section 3."""
    return (
        _component_heartbeat("ingestion"),
        _component_heartbeat("feature_store"),
        _component_heartbeat("execution"),
        ThresholdRule(
            kind="threshold",
            id="order_latency",
            metric="metrics.execution.latency",
            threshold=120.0,
            unit="ms",
            statistic="p95",
            severity="critical",
            escalation="Trigger throttling; escalate to Execution Trader",
        ),
        ThresholdRule(
            kind="threshold",
            id="position_drift",
            metric="metrics.portfolio.drift",
            threshold=0.5,
            unit="% of notional",
            statistic="drift",
            absolute=True,
            severity="critical",
            escalation="Engage risk officer and evaluate halt",
        ),
        HeartbeatRule(
            kind="heartbeat",
            id="risk_heartbeat",
            metric="metrics.risk.heartbeat",
            interval_seconds=15.0,
            max_gap_intervals=3,
            severity="critical",
            escalation="Initiate kill-switch preparation",
        ),
    )


class Policy(BaseModel):
    """A desk's complete, validated SLA policy. ``Policy()`` is the runbook packet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    desk: Annotated[str, Field(min_length=1, max_length=100)] = "default"
    rules: tuple[Rule, ...] = Field(default_factory=runbook_rules, min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
        return rules

    def rule(self, rule_id: str) -> HeartbeatRule | ThresholdRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
