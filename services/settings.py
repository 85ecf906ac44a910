"""Settings: the one place that reads the environment.

Each field names its environment variable; `--help` of the global options
names them too, so a user never has to read this file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import BaseModel, ConfigDict, field_validator

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


class SettingsError(ValueError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    home: Path = Path(".opsledger")
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

    @field_validator("witnesses", mode="before")
    @classmethod
    def _witnesses(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(w for w in re.split(r"[\s,]+", value) if w)
        for item in value if isinstance(value, (list, tuple)) else ():
            if not re.match(r"^https?://[^=\s]+=\S+\+[0-9a-f]{8}\+\S+$", str(item)):
                raise ValueError(f"{str(item)[:60]!r}: expected http(s)://HOST[:PORT][/PREFIX]=VERIFIERKEY")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value and not re.match(r"^postgres(ql)?://", value):
            raise ValueError("must be a postgresql://user@host:port/db URL")
        return value or None

    @field_validator("actor")
    @classmethod
    def _actor(cls, value: str) -> str:
        value = value.strip()
        if len(value) > 128 or any(ord(c) < 32 for c in value):
            raise ValueError("must be one short line")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {
            field: environ[var] for field, var in ENV_VARS.items() if environ.get(var)
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValueError as e:
            first = e.errors()[0] if hasattr(e, "errors") else {"loc": ("?",), "msg": str(e)}
            field = str(first["loc"][0]) if first["loc"] else "?"
            var = ENV_VARS.get(field, field)
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise SettingsError(f"{var}: {msg}") from None

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
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", schema):
            raise SettingsError("OPSLEDGER_DATABASE_URL: schema must be a plain lowercase name")
        env["POSTGRES_SCHEMA"] = schema
    return env
