"""The composition root: builds the application and adapters from settings.

`bootstrap()` is the one place that wires stores, views and adapters; the
CLI (and the HTTP service) call it once and hand the `Services` object to the
use cases in this package. Nothing is built until a use case asks, so
`--help` and argument errors never touch a database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from opsledger.services.settings import Settings, SettingsError

if TYPE_CHECKING:
    from opsledger.archiver.stores.port import ArchiveStore
    from opsledger.domain.application import OpsLedger
    from opsledger.domain.log_reader import LogReader
    from opsledger.domain.sshsig import SshSigner, VerifiedSignature
    from opsledger.projections import Projector
    from opsledger.projections.ledger_log import Ledger
    from opsledger.services.signing import SigningApplication


class Services:
    """What the use cases need, each built lazily, once."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        # What a script run by `opsledger run` inherits: read here, by the
        # composition root, so that no use case reads the environment itself.
        self.environ: dict[str, str] = dict(environ or {})
        # --redact: a secret in what a command records is recorded redacted
        # (with a keyed commitment to the original) instead of refusing it.
        self.redact_records = False
        self._may_create = False

    @property
    def actor(self) -> str:
        """Who acts: the name given (--actor, a check only), else the person the
        roster gives the signing key to."""
        return self.settings.actor or self.app.person()

    def require_store(self) -> None:
        """Reading never creates a store: an embedded one that is not there is
        NoStore (a PostgreSQL server is asked, and says for itself)."""
        from opsledger.services.errors import NoStore

        if self.settings.database_url or self._may_create:
            return
        events = self.settings.home / "events.sqlite"
        if not events.is_file():
            if (self.settings.home / "views.sqlite").is_file():
                from opsledger.projections.errors import LogBehindViews

                raise LogBehindViews(None, 0)
            raise NoStore(
                f"no event store at {self.settings.home.resolve()}: nothing has been recorded "
                "there (name an existing one with --home DIR or OPSLEDGER_HOME, or "
                "--database-url; 'opsledger roster init' founds a new desk there)"
            )

    def recording(self, action: str | None = None) -> None:
        """A command is about to record `action`. Only founding a desk's roster
        (or the demo, which founds one first) may create the embedded store: any
        other action on a store that is not there would be refused by the
        roster anyway, and must not leave an empty store behind (a mistyped
        --home)."""
        if action in (None, "found_roster"):
            self._may_create = True

    @cached_property
    def ledger_app(self) -> OpsLedger:
        """The domain application; recording through it directly is unsigned.
        It creates the embedded store only once `recording()` said so."""
        from opsledger.domain.application import OpsLedger

        self.require_store()
        if not self.settings.database_url:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        return OpsLedger(env=self.settings.event_store_env(), verifier=_Verifier())

    @cached_property
    def log(self) -> LogReader | OpsLedger:
        """The store read as stored (topics and JSON, no domain classes): what
        the views and `flag get` read. The application itself when it is built."""
        if "ledger_app" in self.__dict__:
            return self.ledger_app
        from opsledger.domain.log_reader import LogReader

        self.require_store()
        return LogReader(env=self.settings.event_store_env())

    @cached_property
    def app(self) -> SigningApplication:
        """The application as the acting person uses it: every record is signed."""
        from opsledger.services.signing import SigningApplication

        return SigningApplication(
            lambda: self.ledger_app, lambda: self.identity, recording=self.recording,
            redact=lambda: self.redact_records, commit=self.commit,
        )

    @property
    def redaction_key_path(self) -> Path:
        """OPSLEDGER_REDACTION_KEY, else $OPSLEDGER_HOME/keys/redaction.key."""
        return self.settings.redaction_key or self.settings.home / "keys" / "redaction.key"

    @cached_property
    def redaction_key(self) -> bytes:
        """The desk's secret for redaction commitments, created (0600) on first
        use; it stays beside the store and is never archived."""
        from opsledger.adapters.redaction_key import load_or_create

        return load_or_create(self.redaction_key_path)

    def commit(self, original: bytes) -> str:
        """The keyed commitment (HMAC-SHA256) to an original that is redacted."""
        from opsledger.services.recorded import commitment

        return commitment(self.redaction_key, original)

    def act_as(self, signer: SshSigner) -> None:
        """From now on, sign with `signer` (the demo plays every person)."""
        self.__dict__["identity"] = signer

    @cached_property
    def identity(self) -> SshSigner:
        """The acting person's key: --identity / OPSLEDGER_IDENTITY (as `ssh -i`),
        else the first key of ssh-agent (SSH_AUTH_SOCK)."""
        from opsledger.adapters.ssh_signing import AgentSigner, FileKeySigner
        from opsledger.domain.errors import NotAuthorised

        if self.settings.identity is not None:
            return FileKeySigner(self.settings.identity)
        if self.settings.ssh_auth_sock:
            return AgentSigner(self.settings.ssh_auth_sock)
        raise NotAuthorised(
            "signing", "no key to sign with: pass --identity FILE (as ssh -i), set "
            "OPSLEDGER_IDENTITY, or load your key into ssh-agent (SSH_AUTH_SOCK)"
        )

    # Adapters of other packages (views, archive stores, signing keys) are
    # added below as methods/properties, one per adapter, built lazily.

    @cached_property
    def projector(self) -> Projector:
        """The read models: `views.sqlite` beside the events, or the events' PostgreSQL schema."""
        from opsledger.projections import EventLog, Projector

        log = EventLog(self.log.recorder, self.log.mapper)
        if self.settings.database_url:
            from opsledger.projections.postgres import PostgresViewStore
            from opsledger.services.settings import postgres_env

            env = postgres_env(self.settings.database_url)
            store = PostgresViewStore(
                dbname=env["POSTGRES_DBNAME"],
                host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]),
                user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"],
                schema=env.get("POSTGRES_SCHEMA", "public"),
                connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
                listen_channel=getattr(self.log.recorder, "channel_name", None),
            )
        else:
            from opsledger.projections.sqlite import SQLiteViewStore

            store = SQLiteViewStore(self.settings.home / "views.sqlite")
        return Projector(log, store)

    @cached_property
    def ledger(self) -> Ledger:
        """The Merkle log of every event: a tracked consumer in the views' store."""
        from opsledger.projections.ledger_log import Ledger

        return Ledger(self.projector.log, self.projector.store)

    def archive_store(self, uri: str | None = None) -> ArchiveStore:
        """--store, else OPSLEDGER_ARCHIVE_STORE, else $OPSLEDGER_HOME/archives."""
        uri = uri or self.settings.archive_store
        scheme = urlparse(uri).scheme if uri else ""
        if scheme not in ("", "s3", "file"):
            raise SettingsError(f"--store {uri!r}: a folder, file:// or s3://bucket/prefix")
        if uri and uri.startswith("s3://"):
            if not urlparse(uri).netloc:
                raise SettingsError(f"--store {uri!r}: names no bucket")
            from opsledger.archiver.stores.s3 import S3ArchiveStore

            return S3ArchiveStore.from_uri(
                uri,
                endpoint_url=self.settings.s3_endpoint,
                retention_days=self.settings.retention_days,
            )
        from opsledger.archiver.stores.local import LocalFolderStore

        if uri and uri.startswith("file://"):
            uri = unquote(urlparse(uri).path)
        return LocalFolderStore(Path(uri) if uri else self.settings.home / "archives")

    def store_and_name(self, location: str, uri: str | None = None) -> tuple[ArchiveStore, str]:
        """The store holding the archive at `location` (a URI a seal recorded)."""
        parent, _, name = location.rstrip("/").rpartition("/")
        if not name or not parent or parent.endswith(":/") or parent.endswith(":"):
            raise SettingsError(f"{location!r} names no archive (s3://bucket/prefix/NAME)")
        if location.startswith("file://"):
            name = unquote(name)
        return self.archive_store(uri or parent), name

    def close(self) -> None:
        projector = self.__dict__.get("projector")
        if projector is not None:
            projector.store.close()
        apps = {id(a): a for a in (self.__dict__.get("log"), self.__dict__.get("ledger_app")) if a}
        for app in apps.values():
            app.close()


class _Verifier:
    """The SSHSIG verifier, built (and `cryptography` imported) at the first
    signature checked: a command that only reads never pays for it."""

    def verify(self, armored: str | bytes, message: bytes, namespace: str) -> VerifiedSignature:
        from opsledger.adapters.ssh_signing import CryptographyVerifier

        return CryptographyVerifier().verify(armored, message, namespace)


def bootstrap(settings: Settings | None = None) -> Services:
    """The composition root: settings from the environment unless given."""
    return Services(settings if settings is not None else Settings.from_env(), os.environ)
