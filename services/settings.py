"""Settings: the one place that reads the environment.

Each field names its environment variable; `--help` of the global options
names them too, so a user never has to read this file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

ENV_VARS = {
    "home": "OPSLEDGER_HOME",
    "database_url": "OPSLEDGER_DATABASE_URL",
    "actor": "OPSLEDGER_ACTOR",
    "archive_store": "OPSLEDGER_ARCHIVE_STORE",
    "s3_endpoint": "OPSLEDGER_S3_ENDPOINT",
    "retention_days": "OPSLEDGER_RETENTION_DAYS",
    "signing_key": "OPSLEDGER_SIGNING_KEY",
    "redaction_key": "OPSLEDGER_REDACTION_KEY",
    "identity": "OPSLEDGER_IDENTITY",
    "signing_agent": "OPSLEDGER_SIGNING_AGENT",
    "signing_name": "OPSLEDGER_SIGNING_NAME",
    "ssh_auth_sock": "SSH_AUTH_SOCK",
    "witnesses": "OPSLEDGER_WITNESSES",
}
# The global options that override a variable: an error names what the user gave.
OPTIONS = {"home": "--home", "database_url": "--database-url", "actor": "--actor",
           "identity": "--identity"}
DEFAULT_HOME = Path(".opsledger")


class SettingsError(ValueError):
    pass


def _database_url(value: str | None) -> str | None:
    if value and not re.match(r"^postgres(ql)?://", value):
        raise ValueError("must be a postgresql://user@host:port/db URL")
    if value:
        try:
            postgres_env(value)  # its host, port and schema, checked now
        except SettingsError as e:
            raise ValueError(str(e).removeprefix(f"{ENV_VARS['database_url']}: ")) from None
    return value or None


def _actor(value: str) -> str:
    value = value.strip()
    if len(value) > 128 or any(ord(c) < 32 for c in value):
        raise ValueError("must be one short line")
    return value


def _days(value: int | str) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number of days, not {value!r}") from None
    if days < 0:
        raise ValueError("must not be negative")
    return days


def _path(value: Path | str | None) -> Path | None:
    return None if value is None or value == "" else Path(value)


def _witnesses(value: object) -> tuple[str, ...]:
    """`URL=VERIFIERKEY` items, separated by spaces, commas or newlines."""
    items = tuple(w for w in re.split(r"[\s,]+", value) if w) if isinstance(value, str) \
        else tuple(str(w) for w in value or ())  # type: ignore[union-attr]
    for item in items:
        if not re.match(r"^https?://[^=\s]+=\S+\+[0-9a-f]{8}\+\S+$", item):
            raise ValueError(f"{item[:60]!r}: expected http(s)://HOST[:PORT][/PREFIX]=VERIFIERKEY")
    return items


_CHECKS = {"database_url": _database_url, "actor": _actor, "retention_days": _days,
           "home": _path, "signing_key": _path, "identity": _path, "redaction_key": _path,
           "witnesses": _witnesses}


@dataclass(frozen=True)
class Settings:
    """What the composition root needs; a plain dataclass (pydantic would cost
    every command its first model build, `--help` included)."""

    home: Path = DEFAULT_HOME
    database_url: str | None = None
    actor: str = ""
    archive_store: str | None = None
    s3_endpoint: str | None = None
    retention_days: int = 2192  # six years, the SEC 17a-4 / FINRA 4511 floor
    signing_key: Path | None = None
    # The checkpoint key held by an ssh-agent (its socket), e.g. one run by another
    # account; the log's name printed on every checkpoint.
    signing_agent: str | None = None
    signing_name: str = "opsledger.local/ledger"
    # The desk's secret for committing to redacted originals; never archived.
    redaction_key: Path | None = None
    # The acting person's SSH key: a private key file (as `ssh -i`), else ssh-agent.
    identity: Path | None = None
    ssh_auth_sock: str | None = None
    # Witnesses asked to cosign every seal's checkpoint: `URL=VERIFIERKEY` items,
    # separated by spaces, commas or newlines (C2SP tlog-witness, type 0x04 keys).
    witnesses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            try:
                object.__setattr__(self, name, check(getattr(self, name)))
            except ValueError as e:
                raise SettingsError(f"{name}: {e}") from None
        if self.home is None:
            object.__setattr__(self, "home", DEFAULT_HOME)

    @property
    def home_given(self) -> bool:
        """Whether a home was named (--home, OPSLEDGER_HOME), not the default."""
        return self.home != DEFAULT_HOME

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The environment's settings, each overridden by its option when given;
        a bad value is reported under the name the user gave it by (option or
        variable)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        source: dict[str, str] = {}
        for field, var in ENV_VARS.items():
            if environ.get(var):
                values[field], source[field] = environ[var], var
        for field, value in overrides.items():
            if value is not None:
                values[field], source[field] = value, OPTIONS.get(field, field)
        known = {f.name for f in fields(cls)}
        for field, value in values.items():
            if field not in known:
                raise SettingsError(f"{field}: not a setting")
            check = _CHECKS.get(field)
            if check is None:
                continue
            try:
                check(value)  # type: ignore[operator]
            except ValueError as e:
                raise SettingsError(f"{source[field]}: {e}") from None
        return cls(**values)  # type: ignore[arg-type]

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing library's configuration for the event store."""
        if self.database_url:
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                **postgres_env(self.database_url),
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.home / "events.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }


def postgres_env(url: str) -> dict[str, str]:
    """postgresql://user[:password]@host[:port]/db[?schema=name] as eventsourcing env."""
    parsed = urlparse(url)
    dbname = unquote(parsed.path.lstrip("/"))
    if not parsed.hostname or not dbname:
        raise SettingsError("OPSLEDGER_DATABASE_URL: needs a host and a database name")
    try:
        port = parsed.port or 5432
    except ValueError:
        raise SettingsError("OPSLEDGER_DATABASE_URL: the port is not a number") from None
    env = {
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parsed.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        # eventsourcing requires the variable even when trust auth needs none.
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_PRE_PING": "y",
        # One command at a time: a small pool also means fewer dead connections
        # to find one by one after a server restart.
        "POSTGRES_POOL_SIZE": "2",
    }
    schema = parse_qs(parsed.query).get("schema", [""])[0]
    if schema:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise SettingsError("OPSLEDGER_DATABASE_URL: schema must be a plain lowercase name")
        env["POSTGRES_SCHEMA"] = schema
    return env
