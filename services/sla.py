"""SLA breaches (runbook section 3): the desk's policy, detecting breaches in
Prometheus exports and Alertmanager alerts, and recording one by hand.

Every input is read and checked before anything is recorded, and all of a
run's breaches are recorded in one transaction: nothing is half-recorded.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import Role, Severity
from opsledger.domain.sla import (
    Alert,
    Breach,
    Evaluation,
    Policy,
    Series,
    evaluate,
    iter_prometheus,
    load_policy,
    policy_template,
    read_alertmanager,
)
from opsledger.domain.sla.chunks import Progress
from opsledger.domain.sla.prometheus import Keep
from opsledger.services.errors import InvalidRequest

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

POLICY_FILE = "sla-policy.toml"

ReadStdin = Callable[[], bytes]


@dataclass(frozen=True)
class PolicyInForce:
    policy: Policy
    source: str  # the file it was read from, or "runbook defaults"


@dataclass(frozen=True)
class ManualBreach:
    ticket: str
    breach_id: str
    recorded: bool  # False: the same breach was recorded before


def desk_policy(services: Services, path: Path | None = None) -> PolicyInForce:
    """`path`, else $OPSLEDGER_HOME/sla-policy.toml, else the runbook's packet."""
    if path is None:
        default = services.settings.home / POLICY_FILE
        if not default.is_file():
            return PolicyInForce(Policy(), "runbook defaults")
        path = default
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidRequest(f"{path}: {e.strerror or e}") from None
    return PolicyInForce(load_policy(data, str(path)), str(path))


def policy_document(found: PolicyInForce) -> dict[str, Any]:
    """The policy in force as a complete document: `sla policy check` accepts it, and
    loading it gives the same policy whatever the runbook's defaults become."""
    return {"source": found.source, "defaults": "none", **found.policy.model_dump(mode="json")}


def starter_policy() -> str:
    """The runbook's defaults as a policy file, every key commented."""
    return policy_template()


def breach_record(breach: Breach, incident_ref: str) -> dict:
    """A detected breach as the ticket event's fields."""
    return {**breach.model_dump(), "incident_ref": incident_ref}


def evaluate_exports(
    services: Services,
    key: str,
    paths: Sequence[str],
    *,
    policy_path: Path | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    allow_unmatched: bool = False,
    incident_ref: str = "",
    actor: str,
    role: Role | None = None,
    read_stdin: ReadStdin | None = None,
    progress: Progress | None = None,
    snapshot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Detects breaches in Prometheus exports (query/query_range JSON, plain or
    .gz; "-" is `read_stdin`) and records the new ones on ticket `key`.

    When no series matches any rule the document says `nothing_matched` and
    nothing is recorded, unless `allow_unmatched`. Files are read as a stream
    (`domain.sla.chunks`): memory holds the samples of matched series, not the
    documents; `progress(bytes read, total bytes)` follows the reading.
    `snapshot`: the one export is a metrics snapshot whose digest is recorded
    with the breaches, in the same transaction (services.sla_snapshot)."""
    policy = desk_policy(services, policy_path).policy
    rules = [rule for rule in policy.rules if rule.enabled]

    def keep(metric: str | None, labels: tuple[tuple[str, str], ...]) -> bool:
        return any(rule.selects(metric, dict(labels)) for rule in rules)

    series = _exports(paths, read_stdin, keep, progress)
    evaluation = evaluate(policy, series, since=since, until=until)
    nothing = not evaluation.series
    document = _record(services, key, evaluation, dry_run=dry_run,
                       hold=nothing and not allow_unmatched, incident_ref=incident_ref,
                       actor=actor, role=role, snapshot=snapshot)
    return document | {"nothing_matched": nothing,
                       "matched_series": len({(r.metric, str(r.labels)) for r in evaluation.series})}


def record_alerts(
    services: Services,
    key: str,
    path: str,
    *,
    read_stdin: ReadStdin | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Records Alertmanager alerts (webhook v4 JSON, or JSON lines; "-" is
    `read_stdin`) as breaches on ticket `key`, as `record_alert_list` does."""
    data, source = _read(path, read_stdin)
    return record_alert_list(services, key, read_alertmanager(data, source), **options)


def record_alert_list(
    services: Services,
    key: str,
    alerts: Sequence[Alert],
    *,
    policy_path: Path | None = None,
    dry_run: bool = False,
    allow_unmatched: bool = False,
    incident_ref: str = "",
    actor: str,
    role: Role | None = None,
) -> dict[str, Any]:
    """Records Alertmanager alerts, already read (a file by `record_alerts`, a
    webhook's body by services.alert_intake), as breaches on ticket `key`: a firing
    alert opens one, its resolved notification records its end; a resend records
    nothing new. When no alert matches any rule the document says `nothing_matched`
    and nothing is recorded, unless `allow_unmatched`."""
    policy = desk_policy(services, policy_path).policy
    evaluation = evaluate(policy, alerts=alerts)
    evaluation = evaluation.model_copy(update={"rules_without_data": ()})  # no series read
    nothing = evaluation.matched_alerts == 0
    document = _record(services, key, evaluation, dry_run=dry_run,
                       hold=nothing and not allow_unmatched, incident_ref=incident_ref,
                       actor=actor, role=role)
    return document | {"nothing_matched": nothing, "matched_alerts": evaluation.matched_alerts}


def record_manual_breach(
    services: Services,
    key: str,
    *,
    metric: str,
    observed: float,
    threshold: float | None,
    unit: str,
    comparison: str,
    window_start: datetime,
    window_end: datetime | None,
    severity: Severity,
    escalation: str,
    incident_ref: str,
    detail: str,
    actor: str,
    role: Role | None = None,
) -> ManualBreach:
    """A breach seen by a person; the same one (ticket, metric, start) is recorded once
    (and its end once more, if it was first recorded without one).

    Refused (InvalidRequest): a value that is not a finite number, a time before 1970
    or more than a day ahead, and an observed value that complies with the threshold
    (an upper bound, unless `comparison` reads as a lower one, e.g. "fill > 95 %")."""
    _check_manual(observed, threshold, comparison, window_start, window_end)
    identity = f"manual|{key}|{metric}|{window_start.isoformat()}"
    breach_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
    recorded = services.app.record_breach(
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
        actor=actor,
        role=role,
    )
    return ManualBreach(key, breach_id, recorded)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_manual(
    observed: float,
    threshold: float | None,
    comparison: str,
    start: datetime,
    end: datetime | None,
) -> None:
    for name, value in (("--observed", observed), ("--threshold", threshold)):
        if value is not None and not math.isfinite(value):
            raise InvalidRequest(f"{name} must be a finite number, not {value}")
    latest = datetime.now(UTC) + timedelta(days=1)
    for name, moment in (("--start", start), ("--end", end)):
        if moment is not None and not EPOCH <= moment <= latest:
            raise InvalidRequest(
                f"{name} {moment.isoformat()} is not a time of a session "
                "(from 1970 to tomorrow, UTC)"
            )
    if end is not None and end < start:
        raise InvalidRequest("the breach ends before it starts")
    if threshold is None:
        return
    lower_bound = ">" in comparison and "<" not in comparison
    breached = observed < threshold if lower_bound else observed > threshold
    if not breached:
        bound = "at least" if lower_bound else "at most"
        raise InvalidRequest(
            f"--observed {observed:g} complies with --threshold {threshold:g} ({bound} "
            f"{threshold:g}{' per ' + repr(comparison) if comparison else ''}): not a breach"
        )


def _exports(
    paths: Sequence[str], read_stdin: ReadStdin | None, keep: Keep, progress: Progress | None
) -> Iterator[Series]:
    """The series of every export, read one file after another as a stream."""
    sizes = [0 if p == "-" else _size(p) for p in paths]
    total = sum(sizes) or None
    before = 0
    for path, size in zip(paths, sizes, strict=True):
        def step(done: int, _: int | None, at: int = before) -> None:
            if progress is not None:
                progress(at + done, total)

        if path == "-":
            data = read_stdin() if read_stdin is not None else b""
            yield from iter_prometheus(data, "<stdin>", keep=keep, progress=step)
            continue
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, after the generator
        except OSError as e:
            raise InvalidRequest(f"{path}: {e.strerror or e}") from None
        with stream:
            yield from iter_prometheus(stream, path, keep=keep, progress=step)
        before += size


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _read(path: str, read_stdin: ReadStdin | None) -> tuple[bytes, str]:
    if path == "-":
        return (read_stdin() if read_stdin is not None else b""), "<stdin>"
    try:
        return Path(path).read_bytes(), path
    except OSError as e:
        raise InvalidRequest(f"{path}: {e.strerror or e}") from None


def _record(
    services: Services,
    key: str,
    evaluation: Evaluation,
    *,
    dry_run: bool,
    hold: bool,
    incident_ref: str,
    actor: str,
    role: Role | None,
    snapshot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Records the evaluation's breaches at once (and the snapshot they came from,
    whatever was held); the document says which were new, which only ended
    (recorded before, still going on then), and which were seen."""
    ticket = services.app.get_ticket(key)  # a wrong key fails first
    known = set(ticket.breaches)
    breaches = list(evaluation.breaches)
    changed: set[str] = set()
    if not dry_run and ((not hold and breaches) or snapshot is not None):
        changed = set(
            services.app.record_breaches(
                key,
                breaches=[] if hold else [breach_record(b, incident_ref) for b in breaches],
                actor=actor,
                role=role,
                **({"snapshot": snapshot} if snapshot is not None else {}),
            )
        )

    def outcome(breach_id: str) -> str:
        if dry_run or hold:
            return "dry-run" if dry_run else "not recorded"
        if breach_id not in changed:
            return "seen"
        return "ended" if breach_id in known else "new"

    rows = [
        {
            **b.model_dump(mode="json"),
            "observed": _number(b.observed),
            "recorded": (b.breach_id in changed) if not dry_run and not hold else None,
            "record": outcome(b.breach_id),
        }
        for b in breaches
    ]
    outcomes = [r["record"] for r in rows]
    return {
        "ticket": key,
        "dry_run": dry_run,
        "breaches": rows,
        "new": outcomes.count("new"),
        "ended": outcomes.count("ended"),
        "already_recorded": outcomes.count("seen"),
        "rules_without_data": list(evaluation.rules_without_data),
        "unmatched_series": list(evaluation.unmatched_series),
        "unmatched_alerts": list(getattr(evaluation, "unmatched_alerts", ())),
    }


def _number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
