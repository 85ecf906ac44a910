"""`POST /api/v1/alertmanager`: Alertmanager's webhook (version 4), received.

Parse, call one service (services.alert_intake.receive_from), render. The
caller is Alertmanager with a token of scope `alerts` (usually the
`alertmanager` service account's); what it sends is recorded signed by the
server's own key (`opsledger --identity KEY serve`). The body is read here,
bounded: a declared or streamed length over the intake's cap is answered 413
without reading the rest.

Statuses, as Alertmanager acts on them: 200 with what was recorded (resends
and alerts no ticket claims are in it, and are not errors: Alertmanager must
not retry them); 4xx for what a retry cannot fix (it is not retried); 503 when
the server cannot record now (no signing key, a store down): retried.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from opsledger.services.alert_intake import MAX_BODY, receive_from
from opsledger.web import problems
from opsledger.web.api import PROBLEMS
from opsledger.web.auth import Principal, needs
from opsledger.web.gate import call
from pydantic import BaseModel, ConfigDict, Field

Sender = Annotated[Principal, Depends(needs("alerts", reading_role=False))]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TicketIntake(Open):
    new: int
    ended: int
    already_recorded: int
    breaches: list[dict[str, Any]] = Field(description="Each breach the alerts fold into.")
    matched_alerts: int


class Unmatched(Open):
    alertname: str | None = None
    status: str
    fingerprint: str | None = None
    starts_at: str
    reason: str = Field(description="Why no ticket claims the alert.")


class Intake(Open):
    alerts: int = Field(description="Alerts in the notification.")
    new: int = Field(description="Breaches recorded now.")
    ended: int = Field(description="Breach ends recorded now.")
    already_recorded: int = Field(description="Alerts already recorded (a resend).")
    tickets: dict[str, TicketIntake]
    unmatched: list[Unmatched] = Field(description="Alerts that map to no ticket.")
    refused: list[dict[str, str]] = Field(description="Tickets that refused (closed).")
    sender: str = Field(description="The token's holder that delivered the notification.")


_ALERT = {"type": "object", "required": ["status", "labels", "startsAt"], "properties": {
    "status": {"enum": ["firing", "resolved"]},
    "labels": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "alertname; change_ticket (the ticket), else the session "
               "live at startsAt; sla_rule or guardrail (the policy rule)"},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "startsAt": {"type": "string", "format": "date-time"},
    "endsAt": {"type": "string", "format": "date-time"},
    "generatorURL": {"type": "string"}, "fingerprint": {"type": "string"}}}
NOTIFICATION = {"type": "object", "required": ["version", "alerts"], "properties": {
    "version": {"const": "4"}, "status": {"type": "string"}, "receiver": {"type": "string"},
    "groupKey": {"type": "string"}, "truncatedAlerts": {"type": "integer"},
    "groupLabels": {"type": "object"}, "commonLabels": {"type": "object"},
    "commonAnnotations": {"type": "object"}, "externalURL": {"type": "string"},
    "alerts": {"type": "array", "items": _ALERT}}}

router = APIRouter(prefix="/api/v1", tags=["alertmanager"], responses={
    **PROBLEMS,
    413: {**PROBLEMS[422], "description": f"The body is over {MAX_BODY} bytes"}})


@router.post("/alertmanager", response_model=Intake, openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": NOTIFICATION}}}})
async def alertmanager(request: Request, sender: Sender) -> Any:
    """Records an Alertmanager notification: a firing alert as a breach of the
    ticket its `change_ticket` label names (else the one whose session was live at
    its `startsAt`), its resolved notification as the breach's end. Retries and
    resends record nothing new; unmatched alerts are listed with the reason."""
    body = await _bounded(request, MAX_BODY)
    if body is None:
        return problems.problem(413, f"the notification is over the cap of {MAX_BODY} bytes; "
                                "nothing recorded")
    result = await run_in_threadpool(call, request, receive_from, sender.name, sender.roles,
                                     body)
    _count(request.app.state.metrics, result)
    return result


async def _bounded(request: Request, cap: int) -> bytes | None:
    """The body, or None as soon as it is known to be over `cap` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _count(metrics: Any, result: dict[str, Any]) -> None:
    metrics.alerts_received.inc(result["alerts"])
    unmatched = len(result["unmatched"]) + sum(len(t.get("unmatched_alerts") or ())
                                               for t in result["tickets"].values())
    refused = sum(int(r["alerts"]) for r in result["refused"])
    for outcome, n in (("new", result["new"]), ("ended", result["ended"]),
                       ("seen", result["already_recorded"]), ("unmatched", unmatched),
                       ("refused", refused)):
        if n:
            metrics.alerts_recorded.labels(outcome).inc(n)
    if result["new"] or result["ended"]:
        metrics.recorded.labels("/api/v1/alertmanager").inc(result["new"] + result["ended"])
