"""HTTP statuses, mapped in one place from each layer's errors, as RFC 9457
problem details (`application/problem+json`).

The HTTP twin of cli/errors.py: refused by a rule 409 (403 when it is the
roster or a credential that says no), not found 404, invalid 422 (400 for a
body that is not even JSON), incomplete 503. A body never carries a stack
trace: an error nobody put into words is logged here with its traceback and
answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

PROBLEM = "application/problem+json"
log = logging.getLogger("opsledger.web")

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content",
          500: "Internal Server Error", 503: "Service Unavailable"}


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
            "detail": _one_line(detail), **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_for(error: BaseException) -> int:
    # Each layer's errors are imported when mapped, as cli/errors.py does.
    from eventsourcing.persistence import OperationalError, PersistenceError
    from opsledger.archiver.errors import ArchiverError, BagInputError, ExtractError
    from opsledger.archiver.stores.errors import ArchiveNotFound, StoreUnavailable
    from opsledger.archiver.stores.errors import InvalidInput as StoreInvalidInput
    from opsledger.domain.errors import (
        AlreadyExists,
        ConcurrencyError,
        DomainError,
        InvalidInput,
        NotAuthorised,
        NotFound,
        SameSigner,
        SelfApproval,
        WrongRole,
    )
    from opsledger.domain.signing import SigningError, StaleIntent
    from opsledger.domain.sla.errors import SlaError
    from opsledger.domain.sshsig import SshSignatureError
    from opsledger.projections.errors import (
        InvalidQuery,
        LogBehindViews,
        NotInView,
        ProjectionError,
        UnknownView,
    )
    from opsledger.services.errors import Incomplete, InvalidRequest, Refused
    from opsledger.services.settings import SettingsError
    from opsledger.services.tokens import Forbidden, Unauthenticated
    from pydantic import ValidationError

    if isinstance(error, Unauthenticated):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, Refused):
        return 409
    if isinstance(error, InvalidRequest | SettingsError | ValidationError | SlaError):
        return 422
    if isinstance(error, Incomplete | StoreUnavailable | ConcurrencyError | LogBehindViews):
        return 503
    if isinstance(error, NotFound | NotInView | ArchiveNotFound):
        return 404
    if isinstance(error, StaleIntent | AlreadyExists):
        return 409
    if isinstance(error, NotAuthorised | WrongRole | SelfApproval | SameSigner | SigningError
                  | SshSignatureError):
        return 403
    if isinstance(error, InvalidInput | InvalidQuery | UnknownView):
        return 422
    if isinstance(error, DomainError):
        return 409
    if isinstance(error, BagInputError | StoreInvalidInput | ExtractError):
        return 422
    if isinstance(error, ArchiverError):
        return 409
    if isinstance(error, ProjectionError | OperationalError | PersistenceError):
        return 503
    return 500


def detail_for(error: BaseException, status: int) -> str:
    from eventsourcing.persistence import OperationalError, PersistenceError
    from pydantic import ValidationError

    if status == 500:
        return "internal error: the server log has the details"
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        return f"{where}: {first['msg']}"
    if isinstance(error, OperationalError | PersistenceError):
        return "event store unavailable"  # the driver's words may name hosts and users
    return str(error) or type(error).__name__


def response_for(error: BaseException, request: Request | None = None) -> JSONResponse:
    """The problem response for any error a route (or the authentication) raised."""
    from opsledger.services.disk import out_of_space

    if request is not None and out_of_space(request.app.state.gate.services, error) is not None:
        log.error("no space left on the disk of the stores", exc_info=error)
        return problem(503, "no space left on the server's disk: nothing was written, and "
                       "nothing recorded before is lost", headers={"Retry-After": "60"})
    status = status_for(error)
    if status == 500:
        where = f"{request.method} {request.url.path}" if request is not None else "?"
        log.error("unhandled error on %s", where, exc_info=error)
    headers = {"WWW-Authenticate": 'Bearer realm="opsledger"'} if status == 401 else None
    return problem(status, detail_for(error, status), headers=headers)


def _one_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:2000] if lines else ""


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return problem(error.status_code, str(error.detail), headers=error.headers)


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = error.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ())) or "request"
    status = 400 if first.get("type") == "json_invalid" else 422
    return problem(status, f"{where}: {first.get('msg', 'invalid')}")


async def _mapped(request: Request, error: Exception) -> JSONResponse:
    return response_for(error, request)


def install(app: Any) -> None:
    """Registers the handlers: HTTP errors, invalid requests, every layer's errors."""
    from eventsourcing.persistence import PersistenceError
    from opsledger.archiver.errors import ArchiverError
    from opsledger.domain.errors import DomainError
    from opsledger.domain.sla.errors import SlaError
    from opsledger.projections.errors import ProjectionError
    from opsledger.services.errors import ServiceError
    from opsledger.services.settings import SettingsError
    from pydantic import ValidationError

    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for kind in (ServiceError, DomainError, ProjectionError, ArchiverError, SlaError,
                 SettingsError, ValidationError, PersistenceError):
        app.add_exception_handler(kind, _mapped)
