"""The HTML pages for people: `/`, `/tickets/{key}`, `/tickets/{key}/timeline`,
`/incidents`. Each calls the same service functions as the JSON API (under
the service gate) and hands their documents to `opsledger.render`; no page
runs a script or loads anything but itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from opsledger import render
from opsledger.domain.runbook import Severity
from opsledger.services import incidents, queries, sla
from opsledger.services.breach_chart import breach_charts
from opsledger.services.session_view import ticket_view
from opsledger.web.auth import Principal, needs
from opsledger.web.gate import call

Reader = Annotated[Principal, Depends(needs("read"))]
router = APIRouter(include_in_schema=False)

# Nothing but the page itself: inline styles and SVG, forms posting here.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FILTERS = ("ticket", "metric", "severity", "since", "until")


def page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@router.get("/")
def ticket_list(request: Request, _: Reader) -> HTMLResponse:
    return page(render.ticket_list_page(call(request, queries.ticket_rows)))


@router.get("/tickets/{key}")
def ticket(request: Request, key: str, _: Reader) -> HTMLResponse:
    return page(render.ticket_page(call(request, ticket_view, key)))


@router.get("/tickets/{key}/timeline")
def timeline(request: Request, key: str, _: Reader) -> HTMLResponse:
    return page(render.timeline_page(call(request, queries.ticket_timeline, key)))


def _moment(name: str, text: str) -> datetime:
    """A UTC time as `opsledger incidents --since` reads it; no zone means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a time such as 2026-11-23T13:30:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _choices(services: Any) -> dict[str, list[str]]:
    rules = sla.desk_policy(services).policy.rules
    return {"severities": [s.value for s in Severity],
            "tickets": [r["ticket"] for r in queries.ticket_rows(services)],
            "metrics": sorted({r.metric for r in rules})}


@router.get("/incidents")
def incident_list(request: Request, _: Reader) -> HTMLResponse:
    typed = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    choices = call(request, _choices)
    query: dict[str, Any] = {k: typed[k] or None for k in ("ticket", "metric", "severity")}
    error = None
    try:
        for name in ("since", "until"):
            query[name] = _moment(name, typed[name]) if typed[name] else None
        if query["severity"] and query["severity"] not in choices["severities"]:
            raise ValueError(f"severity: one of {', '.join(choices['severities'])}")
    except ValueError as e:
        error = str(e)
    if error:
        html = render.incidents_page([], filters=typed, choices=choices, error=error)
        return page(html, status=422)
    found = call(request, incidents.list_incidents, **query)
    charts = call(request, breach_charts, found) if found else {}
    return page(render.incidents_page(found, filters=typed, choices=choices, charts=charts))
