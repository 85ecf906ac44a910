"""Signed actions submitted from outside: the client signed the intent with
its own SSH key; this checks and records it exactly as the CLI's own signed
calls are (`OpsLedger.perform`), after the same secret screening.

A credential (an API token) only says who may *submit*: the intent must be
signed by the token's holder, so a token never records anyone's act by
itself, and Alice's token cannot carry Bob's signed intent. No signature, no
record.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsledger.domain.signing import Intent, SignedIntent
from opsledger.services.errors import InvalidRequest
from opsledger.services.recorded import screen_arguments
from opsledger.services.tokens import Forbidden

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


@dataclass(frozen=True)
class Recorded:
    action: str
    target: str
    signer: str
    events: int  # events the action recorded (0: it changed nothing)
    result: Any


def decode_payload(payload: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("payload: not base64 of the signed intent's bytes") from None


def submit_signed(services: Services, payload: bytes, signature: str, *,
                  submitter: str) -> Recorded:
    """Checks and records a signed intent submitted by `submitter` (who must be its signer)."""
    intent = Intent.from_bytes(payload)
    if intent.signer != submitter:
        raise Forbidden(f"the intent is signed as {intent.signer}; {submitter}'s credential "
                        f"submits only {submitter}'s own signed actions")
    # The same screening the CLI applies before it signs: no secret into the record,
    # whoever made the intent. (A client that redacted carries commitments instead.)
    screen_arguments(intent.action, dict(intent.args), redact=False, commit=_no_commit)
    app = services.ledger_app
    before = app.head()
    # Bound to one version of its record: a replay is refused even where the action
    # would now change nothing (and so record nothing for the application to refuse).
    result = app.perform(SignedIntent(payload, signature), exact_version=True)
    return Recorded(intent.action, intent.target, intent.signer, app.head() - before, result)


def _no_commit(_: bytes) -> str:  # pragma: no cover - never called: redact=False refuses first
    raise InvalidRequest("redaction is the signer's to do, before signing")
