"""`create_app(services)`: the FastAPI application of `opsledger serve`.

It includes the JSON API (`web.api`), and, when their modules exist, the HTML
pages (`web.pages.router`) and Alertmanager's receiver
(`web.alertmanager.router`), imported by name so that adding either needs no
change here. Every request but `PUBLIC_PATHS` is authenticated once, here,
before any route runs; every answer is logged and counted.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from opsledger.services.health import projection_lag
from opsledger.services.tokens import TokenAuthority
from opsledger.web import problems
from opsledger.web.auth import Principal, TrustedProxy, authenticate, is_public, login_router
from opsledger.web.gate import Gate
from opsledger.web.observe import Metrics, log_request

OPTIONAL_ROUTERS = ("opsledger.web.pages", "opsledger.web.alertmanager")
API_TITLE = "opsledger"
API_VERSION = "1"


def create_app(services: Any, *, proxy: TrustedProxy | None = None) -> FastAPI:
    """The service over `services` (built once by the CLI's bootstrap)."""
    from opsledger.web import api

    app = FastAPI(title=API_TITLE, version=API_VERSION, openapi_url="/api/v1/openapi.json",
                  docs_url=None, redoc_url=None,  # the bundled viewers load from a CDN
                  description="The record of live trading sessions: read it with a token "
                  "an administrator issued (`opsledger roster token issue`); record only "
                  "actions signed with your own SSH key.")
    gate = Gate(services)
    authority = TokenAuthority(services)
    proxy = proxy or TrustedProxy()
    app.state.services = services
    app.state.gate = gate
    app.state.authority = authority
    app.state.check_token = lambda token: gate(lambda _s: Principal.of(authority.token(token)))
    app.state.metrics = metrics = Metrics(lambda: gate(projection_lag))
    problems.install(app)

    # The routers included, kept for the route table (`route_table`) that the tests
    # walk, so that a route added later is tested for its credentials unnamed.
    app.state.routers = [login_router, api.health, api.router]
    app.state.routers += [module.router for module in _optional(OPTIONAL_ROUTERS)]
    for included in app.state.routers:
        app.include_router(included)

    @app.middleware("http")
    async def door(request: Request, call_next: Any) -> Response:
        began = time.perf_counter()
        who = "-"
        try:
            if not is_public(request.url.path):
                principal = await run_in_threadpool(
                    gate, lambda _s: authenticate(request, authority, proxy))
                request.state.principal = principal
                who = f"{principal.name}({principal.via})"
            response = await call_next(request)
        except Exception as e:  # noqa: BLE001 - every failure answers as a problem, logged once
            response = problems.response_for(e, request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        seconds = time.perf_counter() - began
        metrics.observe(request.method, template, response.status_code, seconds)
        log_request(request.method, request.url.path, response.status_code, seconds * 1000, who)
        return response

    return app


def _optional(names: tuple[str, ...]) -> list[Any]:
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:  # the module is there, something it imports is not
                raise
    return found



def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app answers, its own routes and its routers'."""
    routes = [r for r in app.routes if isinstance(getattr(r, "path", None), str)]
    for included in app.state.routers:
        routes += included.routes
    return sorted({(m, r.path) for r in routes for m in (getattr(r, "methods", None) or {"GET"})
                   if m not in ("HEAD", "OPTIONS")})
