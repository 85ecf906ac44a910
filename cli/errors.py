"""Exit codes, mapped in one place from each layer's exceptions.

0 ok, 1 refused by a rule or a failed check, 2 usage or invalid input,
3 incomplete (a store unreachable, work left unfinished), 130 interrupted.
"""

from __future__ import annotations

import errno
import re

import click

OK, REFUSED, INVALID, INCOMPLETE, INTERRUPTED = 0, 1, 2, 3, 130


class CliError(click.ClickException):
    """A failure the command has already put into words."""

    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.exit_code = code


# Adapter packages register their error types here (type -> exit code), so
# that this module stays the one place that decides exit codes.
EXTRA: dict[type[BaseException], int] = {}


def exit_code_for(error: BaseException) -> int:
    # Each layer's errors are imported when an error is mapped, never at start:
    # `opsledger --help` must not pay for the archiver, the views or the drivers.
    from eventsourcing.persistence import OperationalError, PersistenceError
    from opsledger.adapters.postgres_hardening import HardeningError, InvalidRole
    from opsledger.adapters.redaction_key import RedactionKeyError
    from opsledger.adapters.signing_keys import SigningKeyError
    from opsledger.archiver.errors import ArchiverError, BagInputError, ExtractError
    from opsledger.archiver.stores.errors import InvalidInput as StoreInvalidInput
    from opsledger.archiver.stores.errors import StoreUnavailable
    from opsledger.domain.errors import (
        AlreadyExists,
        ConcurrencyError,
        DomainError,
        InvalidInput,
        NotFound,
    )
    from opsledger.domain.sla.errors import SlaError
    from opsledger.projections.errors import (
        InvalidQuery,
        LogBehindViews,
        NotInView,
        ProjectionError,
        UnknownView,
    )
    from opsledger.services.errors import Incomplete, InvalidRequest, Refused
    from opsledger.services.settings import SettingsError
    from pydantic import ValidationError

    if isinstance(error, CliError):
        return error.exit_code
    if isinstance(error, Refused):
        return REFUSED
    if isinstance(error, InvalidRequest):
        return INVALID
    if isinstance(error, Incomplete):
        return INCOMPLETE
    if isinstance(error, click.UsageError | click.BadParameter):
        return INVALID
    if isinstance(error, InvalidInput | NotFound | SettingsError | ValidationError | SlaError):
        return INVALID
    if isinstance(error, SigningKeyError | RedactionKeyError):
        return REFUSED
    if isinstance(error, HardeningError):
        return INVALID if isinstance(error, InvalidRole) else REFUSED
    if isinstance(error, ConcurrencyError):
        return INCOMPLETE
    if isinstance(error, AlreadyExists | DomainError):
        return REFUSED
    if isinstance(error, BagInputError | StoreInvalidInput | ExtractError):
        return INVALID
    if isinstance(error, StoreUnavailable):
        return INCOMPLETE
    if isinstance(error, ArchiverError):
        return REFUSED
    if isinstance(error, InvalidQuery | UnknownView | NotInView):
        return INVALID
    if isinstance(error, LogBehindViews):
        return REFUSED  # a failed check of the store, not a store out of reach
    if isinstance(error, ProjectionError):
        return INCOMPLETE
    for kind, code in EXTRA.items():
        if isinstance(error, kind):
            return code
    if isinstance(error, OperationalError | PersistenceError):
        return INCOMPLETE
    if isinstance(error, OSError):
        return INVALID if error.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR) else INCOMPLETE
    return INCOMPLETE


def message_for(error: BaseException) -> str:
    from eventsourcing.persistence import OperationalError, PersistenceError
    from opsledger.projections.errors import ViewStoreError
    from opsledger.services.errors import ServiceError
    from pydantic import ValidationError

    if isinstance(error, click.ClickException):
        return error.format_message()
    if isinstance(error, ServiceError):  # put into words by the use case, like CliError
        return str(error)
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        return f"{where}: {first['msg']}"
    if isinstance(error, OperationalError | PersistenceError):
        return _with_hint(f"event store unavailable: {_one_line(error)}")
    if isinstance(error, ViewStoreError) and "permission denied" in str(error):
        return (f"{_one_line(error)} (a hardened database: an administrator's 'opsledger db check "
                "--app-role ROLE' says what the role lacks, 'opsledger db harden' grants it)")
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return _with_hint(_one_line(error) or type(error).__name__)


_NO_SCHEMA = re.compile(r'schema "([^"]+)" does not exist')


def _with_hint(message: str) -> str:
    """What to do about a server's answer the user can fix themselves."""
    missing = _NO_SCHEMA.search(message)
    if missing:
        schema = missing[1]
        message += (
            f"; the URL's ?schema={schema} names a schema the database lacks: create it "
            f"once (psql ... -c 'CREATE SCHEMA {schema}', as the database's owner) or "
            "leave ?schema= out to use public"
        )
    return message


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


# Every character str.splitlines() breaks on: a file name may contain any of them.
_BREAKS = {c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(message: str) -> str:
    """Escapes line breaks (e.g. inside a quoted path) so an error stays one line."""
    return message.translate(str.maketrans(_BREAKS))
