"""Options shared by many commands, defined once."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from opsledger.domain.runbook import Role

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "json_output", is_flag=True, help="Print one JSON document.")


def role_option(*, required: bool = False) -> Callable[[F], F]:
    return click.option(
        "--role",
        type=click.Choice([r.value for r in Role]),
        required=required,
        callback=lambda _c, _p, v: Role(v) if v else None,
        help="Which of your roster roles you act in: needed only when the roster grants "
        "you more than one that may do this. The roster is checked either way.",
    )


def _redact_records(ctx: click.Context, _param: Any, value: bool) -> bool:
    if value and ctx.obj is not None:
        ctx.obj.redact_records = True
    return value


redact_option = click.option(
    "--redact",
    "redact_records",
    is_flag=True,
    expose_value=False,
    callback=_redact_records,
    help="If what this records (arguments, reason, labels...) holds a secret, record it "
    "as [REDACTED:<kind>] with a keyed commitment to the original, instead of refusing. "
    "The secret itself is never recorded nor printed.",
)

actor_option = click.option(
    "--actor",
    "actor_override",
    metavar="NAME",
    help="Who you say acts: checked against the signing key's holder, refused if another.",
)


def actor_of(obj: Any, override: str | None) -> str | None:
    """The name the user says they act as (--actor, OPSLEDGER_ACTOR), or None.

    Identity comes from the signing key: the roster names its holder, and a
    name given here is only checked against that (refused if it differs)."""
    actor = (override or obj.settings.actor or "").strip()
    if not actor:
        return None
    if len(actor) > 128 or any(ord(c) < 32 for c in actor):
        raise click.BadParameter("--actor must be one short line")
    return actor


# A date with a zone (2026-12-01Z, 2026-12-01+02:00): that day's midnight there.
_ZONED_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})$")


class UtcDateTime(click.ParamType):
    """An ISO 8601 time, or a date with a zone (midnight); a naive time is
    refused rather than guessed."""

    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        zoned_date = _ZONED_DATE.match(text)
        if zoned_date:  # fromisoformat drops a bare date's offset
            text = f"{zoned_date[1]}T00:00:00{zoned_date[2]}"
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-11-23T14:05:00Z "
                      "(or a date such as 2026-11-23Z, midnight UTC)", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no time zone: add Z for UTC, as in {text}Z"
                      f"{' (midnight UTC)' if 'T' not in text else ''}", param, ctx)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-14:00: year 10000 in UTC
            self.fail(f"{value!r} is out of range (years 1 to 9999 in UTC)", param, ctx)


class IsoDate(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date such as 2026-11-23", param, ctx)


key_file_option = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key path [env OPSLEDGER_SIGNING_KEY; default $OPSLEDGER_HOME/keys/ledger.key].",
)

public_key_option = click.option(
    "--public-key",
    "public_key",
    metavar="KEY",
    help="The log's verifier key (name+hash+base64, as 'keys show' prints), or a file holding it.",
)

store_option = click.option(
    "--store",
    "store_uri",
    metavar="URI",
    help="Where archives go: a folder or s3://bucket/prefix [env OPSLEDGER_ARCHIVE_STORE; "
    "default $OPSLEDGER_HOME/archives].",
)

# Log positions, versions, sizes and limits are 64-bit in both stores (SQLite
# INTEGER, PostgreSQL bigint): a larger number is a usage error, not a store failure.
MAX_INT64 = 2**63 - 1


def count(minimum: int = 1) -> click.IntRange:
    """A whole number from `minimum` up to what the stores hold (2**63 - 1)."""
    return click.IntRange(min=minimum, max=MAX_INT64)


existing_file = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
