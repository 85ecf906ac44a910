"""The JSON API, `/api/v1/...`, and the probes. Each route parses, calls the
one service function the CLI's command calls (under the service gate), and
returns its document; errors become problems in `web.problems`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from opsledger.domain.runbook import Severity
from opsledger.services import archive_check, incidents, ledger, queries, roster
from opsledger.services.actions import decode_payload, submit_signed
from opsledger.services.health import readiness
from opsledger.web import models, problems
from opsledger.web.auth import Principal, needs
from opsledger.web.gate import call
from pydantic import TypeAdapter

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": models.Problem, "description": text,
             "content": {problems.PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, text in ((401, "No credential, or one not accepted"),
                         (403, "The holder lacks the role or scope"),
                         (404, "No such record"), (422, "Invalid request"),
                         (503, "A store is unavailable"))
}
Reader = Annotated[Principal, Depends(needs("read"))]
POSITION_MAX = 2**63 - 1  # a store's positions and versions are 64-bit integers
Actor = Annotated[Principal, Depends(needs("act", reading_role=False))]

health = APIRouter(tags=["health"])
router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


@health.get("/healthz", response_model=models.Health, summary="The process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", response_model=models.Readiness, summary="The stores can be read",
            responses={503: PROBLEMS[503]})
def readyz(request: Request) -> Any:
    try:
        return call(request, readiness)
    except Exception as e:  # noqa: BLE001 - not ready, whatever the reason: a 503 problem
        return problems.problem(503, problems.detail_for(e, problems.status_for(e)))


@health.get("/metrics", summary="Prometheus metrics of the service", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}, **PROBLEMS})
def metrics(request: Request, _: Reader) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


# --- tickets, timeline, flags, incidents ---------------------------------------------------


@router.get("/tickets", response_model=list[models.TicketRow], tags=["tickets"])
def list_tickets(request: Request, _: Reader, status: str | None = None,
                 strategy: str | None = None,
                 limit: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> Any:
    """Every ticket with its status, environments and breach count, oldest first."""
    return call(request, queries.ticket_rows, status=status, strategy=strategy, limit=limit)


@router.get("/tickets/{key}", response_model=models.Ticket, tags=["tickets"])
def show_ticket(request: Request, key: str, _: Reader, as_of: datetime | None = None,
                at_position: Annotated[int | None, Query(ge=0, le=POSITION_MAX)] = None) -> Any:
    """Ticket KEY as it stands, or as it stood at `as_of` (UTC) or `at_position`."""
    if as_of is not None and as_of.tzinfo is None:
        return problems.problem(422, "as_of: give a time zone (Z or +00:00)")
    return call(request, queries.ticket_document, key, as_of=as_of, at_position=at_position,
                with_flag=as_of is None and at_position is None)


@router.get("/tickets/{key}/timeline", response_model=models.Timeline, tags=["tickets"])
def ticket_timeline(request: Request, key: str, _: Reader) -> Any:
    """Every event of the ticket in log order, each with its SSH signature."""
    return call(request, queries.ticket_timeline, key)


@router.get("/flags/{name}/history", response_model=models.FlagHistory, tags=["flags"])
def flag_history(request: Request, name: str, _: Reader) -> Any:
    """Every recorded change of flag NAME (who flipped it, when and why)."""
    return call(request, queries.flag_history, name)


@router.get("/incidents", response_model=list[models.Incident], tags=["incidents"])
def list_incidents(request: Request, _: Reader, metric: str | None = None,
                   strategy: str | None = None, severity: Severity | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   ticket: str | None = None,
                   limit: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> Any:
    """Every SLA breach across tickets, oldest first, filtered as `opsledger incidents`."""
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            return problems.problem(422, f"{name}: give a time zone (Z or +00:00)")
    return call(request, incidents.list_incidents, metric=metric, strategy=strategy,
                severity=severity.value if severity else None, since=since, until=until,
                ticket=ticket, limit=limit)


# --- archives, ledger, roster ---------------------------------------------------------------


@router.get("/archives", response_model=list[models.Archive], tags=["archives"])
def list_archives(request: Request, _: Reader) -> Any:
    """The archives in the desk's archive store."""
    return call(request, archive_check.list_archives)


@router.get("/archives/{name}/verification", response_model=models.Verification,
            tags=["archives"])
def verify_archive(request: Request, name: str, _: Reader) -> Any:
    """Re-reads archive NAME of the store end to end and reports every finding
    (offline: nothing is recorded)."""
    return call(request, archive_check.verify_listed_archive, name)


@router.get("/ledger", response_model=models.LedgerStatus, tags=["ledger"])
def ledger_status(request: Request, _: Reader) -> Any:
    """The Merkle log: size, root, lag behind the event log, checkpoints."""
    return call(request, ledger.ledger_status)


@router.get("/ledger/checkpoint", response_model=models.Checkpoint, tags=["ledger"])
def latest_checkpoint(request: Request, _: Reader) -> Any:
    """The latest signed checkpoint."""
    return call(request, ledger.latest_checkpoint)


@router.get("/ledger/proofs/{position}", response_model=models.InclusionProof, tags=["ledger"])
def inclusion_proof(request: Request, position: Annotated[int, Path(le=POSITION_MAX)],
                    _: Reader) -> Any:
    """The inclusion proof of the event at log POSITION (what `ledger proof` prints)."""
    return call(request, ledger.prove_inclusion, position)


@router.get("/roster", response_model=models.Roster, tags=["roster"])
def roster_show(request: Request, _: Reader,
                at_version: Annotated[int | None, Query(ge=1, le=POSITION_MAX)] = None) -> Any:
    """Who holds which role, now or at a past roster version."""
    return call(request, roster.roster_holdings, at_version)


@router.get("/roster/keys", response_model=models.RosterKeys, tags=["roster"])
def roster_keys(request: Request, _: Reader) -> Any:
    """Every person's SSH keys, revoked ones included, with their windows."""
    return call(request, roster.roster_keys)


# --- signed writes ----------------------------------------------------------------------------


@router.post("/actions", response_model=models.ActionRecorded, status_code=201,
             tags=["actions"], responses={409: {"model": models.Problem,
                                                "description": "Refused by a rule"}})
def submit_action(request: Request, body: models.SignedAction, principal: Actor) -> Any:
    """Records an action signed with the caller's own SSH key (SSHSIG, namespace
    opsledger): the signed intent's exact bytes (base64) and the armored signature,
    checked and recorded exactly as the CLI records its own."""
    payload = decode_payload(body.payload)
    done = call(request, submit_signed, payload, body.signature, submitter=principal.name)
    if done.events:
        request.app.state.metrics.recorded.labels("/api/v1/actions").inc(done.events)
    result = TypeAdapter(Any).dump_python(done.result, mode="json", fallback=str)
    return JSONResponse({"action": done.action, "target": done.target, "signer": done.signer,
                         "events": done.events, "result": result}, status_code=201)
