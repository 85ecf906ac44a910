"""SLA breaches (runbook section 3): the desk's policy, detecting breaches in
Prometheus exports and Alertmanager alerts, and recording one by hand.

Every input is read and checked before anything is recorded, and all of a
run's breaches are recorded in one transaction: nothing is half-recorded.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import Role, Severity
from opsledger.domain.sla import (
    Breach,
    Evaluation,
    ExportError,
    Policy,
    evaluate,
    load_policy,
    read_alertmanager,
    read_prometheus,
)
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
    incident_ref: str = "",
    actor: str,
    role: Role | None = None,
    read_stdin: ReadStdin | None = None,
) -> dict[str, Any]:
    """Detects breaches in Prometheus exports (query/query_range JSON, plain or
    .gz; "-" is `read_stdin`) and records the new ones on ticket `key`."""
    policy = desk_policy(services, policy_path).policy
    series = []
    for path in paths:
        data, source = _read(path, read_stdin)
        series.extend(read_prometheus(data, source))
    evaluation = evaluate(policy, series, since=since, until=until)
    return _record(services, key, evaluation, dry_run=dry_run, incident_ref=incident_ref,
                   actor=actor, role=role)


def record_alerts(
    services: Services,
    key: str,
    path: str,
    *,
    policy_path: Path | None = None,
    dry_run: bool = False,
    incident_ref: str = "",
    actor: str,
    role: Role | None = None,
    read_stdin: ReadStdin | None = None,
) -> dict[str, Any]:
    """Records firing Alertmanager alerts (webhook v4 JSON, or JSON lines; "-"
    is `read_stdin`) as breaches on ticket `key`."""
    policy = desk_policy(services, policy_path).policy
    data, source = _read(path, read_stdin)
    evaluation = evaluate(policy, alerts=read_alertmanager(data, source))
    return _record(services, key, evaluation, dry_run=dry_run, incident_ref=incident_ref,
                   actor=actor, role=role)


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
    """A breach seen by a person; the same one (ticket, metric, start) is recorded once."""
    if window_end is not None and window_end < window_start:
        raise InvalidRequest("the breach ends before it starts")
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


# An export is parsed in memory (domain.sla.payload), so what it may expand to is
# capped where it is opened: a gzip bomb is refused after counting MAX_EXPORT_BYTES of
# its output in 1 MiB steps, none of it kept. (A streaming reader would lift this.)
MAX_EXPORT_BYTES = 32 << 20


def _read(path: str, read_stdin: ReadStdin | None) -> tuple[bytes, str]:
    if path == "-":
        data, source = (read_stdin() if read_stdin is not None else b""), "<stdin>"
    else:
        try:
            with open(path, "rb") as f:
                data, source = f.read(MAX_EXPORT_BYTES + 1), path
        except OSError as e:
            raise InvalidRequest(f"{path}: {e.strerror or e}") from None
    _check_export_size(data, source)
    return data, source


def _check_export_size(data: bytes, source: str) -> None:
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportError(source, f"byte {MAX_EXPORT_BYTES}",
                          f"the export is larger than {MAX_EXPORT_BYTES} bytes")
    total, offset, view = 0, 0, memoryview(data)
    while data[offset : offset + 2] == b"\x1f\x8b":  # each gzip member, as the parser reads them
        inflater = zlib.decompressobj(wbits=31)
        at = offset
        try:
            while at < len(data) and not inflater.eof:
                pending = view[at : at + (64 << 10)]
                at += len(pending)
                while pending and not inflater.eof:
                    total += len(inflater.decompress(pending, 1 << 20))
                    pending = inflater.unconsumed_tail
                    if total > MAX_EXPORT_BYTES:
                        raise ExportError(source, f"gzip member at byte {offset}",
                                          f"decompresses to more than {MAX_EXPORT_BYTES} bytes")
        except zlib.error:
            return  # corrupt: the parser says where
        if not inflater.eof:
            return
        offset = at - len(inflater.unused_data)


def _record(
    services: Services,
    key: str,
    evaluation: Evaluation,
    *,
    dry_run: bool,
    incident_ref: str,
    actor: str,
    role: Role | None,
) -> dict[str, Any]:
    """Records the evaluation's breaches at once; the document says which were new."""
    services.app.get_ticket(key)  # a wrong key fails before anything is shown as recorded
    breaches = list(evaluation.breaches)
    new: set[str] = set()
    if not dry_run and breaches:
        new = set(
            services.app.record_breaches(
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
    return {
        "ticket": key,
        "dry_run": dry_run,
        "breaches": rows,
        "new": len(new),
        "already_recorded": 0 if dry_run else len(breaches) - len(new),
        "rules_without_data": list(evaluation.rules_without_data),
        "unmatched_series": list(evaluation.unmatched_series),
        "unmatched_alerts": list(getattr(evaluation, "unmatched_alerts", ())),
    }


def _number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
