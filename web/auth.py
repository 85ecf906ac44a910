"""Who is asking: one authentication for every route but an explicit few.

Credentials, in this order: `Authorization: Bearer olt_...` (a token an
administrator issued: `opsledger roster token issue`), the login cookie (the
same token, pasted once at `/login`, kept HttpOnly and SameSite=Strict), and,
only when configured, a trusted header set by an SSO reverse proxy, honoured
only from the configured proxy addresses. The checks are the services'
(`services.tokens`); this module only reads the request and sets
`request.state.principal` for the routes and pages.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from opsledger.services.tokens import Caller, TokenAuthority, Unauthenticated, require

COOKIE = "opsledger_session"
# Reached without a credential: probes, the login form and its post, logging out.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})
PUBLIC_PREFIXES = ("/static/",)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as `request.state.principal`."""

    name: str
    roles: frozenset[str]
    scopes: frozenset[str]
    via: str  # "token:<id>", "cookie:<id>" or "header"

    @classmethod
    def of(cls, caller: Caller) -> Principal:
        return cls(caller.name, caller.roles, caller.scopes, caller.via)


@dataclass(frozen=True)
class TrustedProxy:
    """`--trusted-proxy ADDR` (repeatable; an address or a network) and
    `--trusted-header NAME`: off unless both are given."""

    header: str | None = None
    proxies: tuple[str, ...] = ()
    _networks: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_networks", tuple(ip_network(p, strict=False)
                                                    for p in self.proxies))

    def name_from(self, request: Request) -> str | None:
        if not self.header or not self._networks or request.client is None:
            return None
        try:
            peer = ip_address(request.client.host)
        except ValueError:
            return None
        if not any(peer in net for net in self._networks):
            return None
        value = request.headers.get(self.header)
        return value.strip() if value and value.strip() else None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, credential = value.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return credential.strip()


def authenticate(request: Request, authority: TokenAuthority, proxy: TrustedProxy) -> Principal:
    """The caller of `request`, or Unauthenticated/Forbidden (run under the service gate)."""
    token = bearer(request)
    if token is not None:
        return Principal.of(authority.token(token, via="token"))
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return Principal.of(authority.token(cookie, via="cookie"))
    name = proxy.name_from(request)
    if name is not None:
        return Principal.of(authority.person(name))
    raise Unauthenticated("a credential is needed: Authorization: Bearer <token> "
                          "(opsledger roster token issue), or log in at /login")


def needs(scope: str, *, reading_role: bool = True) -> Callable[[Request], Principal]:
    """A route dependency: the principal must hold `scope` (and a reading role)."""

    def dependency(request: Request) -> Principal:
        principal: Principal = request.state.principal
        require(Caller(principal.name, principal.roles, principal.scopes, principal.via),
                scope, reading_role=reading_role)
        return principal

    return dependency


# --- the browser's login -------------------------------------------------------------

login_router = APIRouter(include_in_schema=False)

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opsledger: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
color:#111;background:#fff}}input{{width:100%;font:inherit;padding:.4rem}}
button{{font:inherit;padding:.4rem 1rem;margin-top:.75rem}}
.error{{color:#a00000;font-weight:bold}}:focus{{outline:3px solid #1a56db}}</style></head>
<body><main><h1>opsledger</h1>
<p>Paste the API token an administrator issued to you
(<code>opsledger roster token issue NAME --scope read</code>).</p>
{error}<form method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="off" required
 aria-describedby="token-help">
<p id="token-help">It is kept in an HttpOnly cookie for this browser only.</p>
<button type="submit">Log in</button></form></main></body></html>
"""


def login_form(error: str | None = None, status: int = 200) -> HTMLResponse:
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(_FORM.format(error=shown), status_code=status,
                        headers={"Cache-Control": "no-store"})


@login_router.get("/login")
def login_page() -> HTMLResponse:
    return login_form()


def login_with(request: Request, token: str, check: Callable[[str], Principal],
               max_age: int) -> Response:
    try:
        check(token.strip())
    except Unauthenticated as e:
        return login_form(str(e), status=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token.strip(), max_age=max_age, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@login_router.post("/login")
def login_post(request: Request, token: str = Form(..., max_length=200)) -> Response:
    check = request.app.state.check_token
    return login_with(request, token, check, max_age=12 * 3600)


@login_router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response

