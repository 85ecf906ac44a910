"""Signed intents: every recorded action carries its author's SSH signature.

A command is first written down as an *intent*, the canonical JSON of what
is to be recorded and where::

    {"v": 1, "action": "attach_evidence", "target": "ticket:CHG-2041",
     "version": 7, "args": {...}, "signer": "bob.risk", "at": "2026-...Z"}

and signed by the acting person's SSH key (SSHSIG, namespace "opsledger").
`target` and `version` (the target's version before the command) bind the
signature to one aggregate and one position, so it can be replayed neither
onto another ticket nor again on the same one. Every event the command
records stores the signature and the exact signed bytes; years later anyone
holding the roster's public keys can check it, with opsledger or with
`ssh-keygen -Y verify`, without trusting the database.

The signature is checked by the application before anything is recorded
(`OpsLedger.perform`); the crypto lives behind the `SshSignatureVerifier`
port, implemented outside the domain.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_type_hints
from uuid import UUID

from opsledger.domain.errors import DomainError
from opsledger.domain.model import Immutable, Signature, derive_id
from opsledger.domain.persistence import canonical_json
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError, field_validator

NAMESPACE = "opsledger"
# A signed intent is used at once; one signed long ago (or in the future) is refused,
# so that a signature lifted from a log cannot be replayed later elsewhere.
MAX_SKEW = timedelta(minutes=10)
MAX_INTENT = 256 << 10


class SigningError(DomainError):
    """A signed intent is refused: malformed, stale, by an unknown key, forged."""


class StaleIntent(SigningError):
    """The target moved on since the intent was signed: read it again and re-sign."""


class Intent(Immutable):
    v: Literal[1] = 1
    action: str = Field(pattern=r"^[a-z_]{1,64}$")
    target: str = Field(pattern=r"^(ticket|flag|shift|roster|token):[^\s]{1,200}$")
    version: int = Field(ge=0)
    args: dict[str, Any]
    signer: str = Field(min_length=1, max_length=128)
    at: AwareDatetime
    # Where the arguments hold a string redacted before signing (a secret
    # replaced by `[REDACTED:<kind>]`): argument path -> a keyed commitment to
    # the original ("hmac-sha256:<hex>", under the desk's redaction key).
    # Absent from the signed bytes when nothing was redacted, so intents
    # signed before redaction existed keep their canonical form.
    redactions: dict[str, Annotated[str, Field(pattern=r"^hmac-sha256:[0-9a-f]{64}$")]] = {}

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_bytes(self) -> bytes:
        data = self.model_dump(mode="json")
        if not data["redactions"]:
            del data["redactions"]
        return canonical_json(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> Intent:
        """Strict: the bytes must be this intent's canonical encoding, so that
        two different byte strings never mean the same signed intent."""
        if len(data) > MAX_INTENT:
            raise SigningError("intent", f"a signed intent is at most {MAX_INTENT} bytes")
        try:
            intent = cls.model_validate(json.loads(data.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, ValidationError) as e:
            raise SigningError("intent", f"not a signed intent: {_first_line(e)}") from None
        if intent.to_bytes() != data:
            raise SigningError("intent", "the signed intent is not in canonical form")
        return intent

    def kind_and_key(self) -> tuple[str, str]:
        kind, _, key = self.target.partition(":")
        return kind, key


@dataclass(frozen=True)
class SignedIntent:
    """An intent's exact bytes and the armored SSH signature over them."""

    payload: bytes
    signature: str


def target_of(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def check_fresh(intent: Intent, now: datetime) -> None:
    if abs(now - intent.at) > MAX_SKEW:
        raise SigningError(
            intent.signer,
            f"the intent was signed at {intent.at.isoformat()}, more than "
            f"{int(MAX_SKEW.total_seconds() // 60)} minutes from now: sign it again",
        )


# --- the signature in force while a signed command runs ------------------------------


@dataclass
class Acting:
    signature: Signature
    target_id: UUID
    version: int


_acting: ContextVar[Acting | None] = ContextVar("opsledger_acting", default=None)


@contextmanager
def acting(state: Acting) -> Iterator[Acting]:
    token = _acting.set(state)
    try:
        yield state
    finally:
        _acting.reset(token)


def current() -> Acting | None:
    return _acting.get()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def target_id(target: str) -> UUID:
    """The aggregate id a target names (the ids are derived from keys)."""
    kind, _, key = target.partition(":")
    if kind not in ("ticket", "flag", "roster", "shift", "token") or not key:
        raise SigningError(target, "not a target opsledger records on")
    return derive_id(kind, key)  # a shift's key is "<operator>/<day>", as shift_id derives it


def decode_args(method: Callable[..., Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """The intent's JSON arguments as the method's annotated types (enums,
    dates, tuples...); an argument the method does not take is refused, and
    `actor` is never an argument: the signer is the actor."""
    hints = get_type_hints(method)
    parameters = inspect.signature(method).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name == "actor" or (name not in parameters and not open_ended):
            raise SigningError(name, "not an argument of the signed action")
        hint = hints.get(name, Any)
        try:
            out[name] = TypeAdapter(hint).validate_python(value)
        except ValidationError as e:
            raise SigningError(name, f"not a valid value: {_first_line(e)}") from None
    return out


def encode_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON values of a method's arguments, as the intent carries them."""
    return {
        name: TypeAdapter(Any).dump_python(value, mode="json")
        for name, value in args.items()
        if name != "actor"
    }


def armored(signature: str) -> str:
    """The armored block as stored: LF line ends, one final newline."""
    text = signature.replace("\r\n", "\n").strip("\n")
    return text + "\n"
