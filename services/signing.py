"""The application as a person uses it: every recording call is signed.

`SigningApplication` wraps the domain application. Reading passes through;
a call to a recording method (domain.use_cases.actions) becomes a signed
intent: its arguments, the target's current version and the signer's name,
signed with the person's own SSH key (a key file, as `ssh -i`, or
ssh-agent), then checked and recorded by `OpsLedger.perform`. A record that
moved on meanwhile is read again and signed again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsledger.domain.errors import NotAuthorised
from opsledger.domain.model import utcnow
from opsledger.domain.signing import (
    NAMESPACE,
    Intent,
    SignedIntent,
    StaleIntent,
    encode_args,
)
from opsledger.domain.sshsig import SshSignatureError, parse_public_key_line
from opsledger.domain.use_cases.actions import ACTIONS
from opsledger.services.recorded import Commit, screen_arguments

if TYPE_CHECKING:
    from opsledger.domain.application import OpsLedger
    from opsledger.domain.sshsig import SshSigner

RESIGN_ATTEMPTS = 8
# Arguments that are a `.pub` line: the roster records them without their comment,
# so the intent signs them so too (what is signed is what is recorded; an audit
# compares the two).
KEY_LINES = ("public_key", "second_public_key")


class SigningApplication:
    def __init__(
        self,
        app: OpsLedger | Callable[[], OpsLedger],
        identity: Callable[[], SshSigner],
        *,
        recording: Callable[[str], None] | None = None,
        redact: Callable[[], bool] = lambda: False,
        commit: Commit | None = None,
    ) -> None:
        # The application, or what builds it when first needed; `recording` is
        # told before a recording method is first reached (it may create the store).
        self._provide = app if callable(app) else (lambda: app)
        self._identity = identity
        self._recording = recording or (lambda _: None)
        # Every string the call would record is scanned first (services.recorded):
        # refused, or with --redact recorded redacted with a keyed commitment.
        self._redact = redact
        self._commit = commit

    @property
    def _app(self) -> OpsLedger:
        return self._provide()

    @property
    def unsigned(self) -> OpsLedger:
        """The application itself, for reading and for the store's plumbing."""
        return self._app

    def __getattr__(self, name: str) -> Any:
        if name in ACTIONS:
            self._recording(name)
        attribute = getattr(self._app, name)
        if name not in ACTIONS:
            return attribute

        def signed_call(*args: Any, **kwargs: Any) -> Any:
            return self._perform(name, attribute, args, kwargs)

        return signed_call

    def person(self) -> str:
        """Whom the roster gives the signing key to."""
        signer = self._identity()
        return self._person_of(signer.fingerprint)

    def _person_of(self, fingerprint: str) -> str:
        try:
            roster = self._app.get_roster()
        except Exception:  # noqa: BLE001 - no roster yet: nobody holds a key
            roster = None
        person = roster.person_of_key(fingerprint) if roster is not None else None
        if person is None:
            raise NotAuthorised(
                fingerprint,
                "this key is not in the roster: an administrator adds it with "
                "'opsledger roster key add PERSON KEY.pub'",
            )
        return person

    def _committer(self) -> Commit:
        return self._commit or _no_key

    def _legacy_roster(self) -> bool:
        try:
            return not self._app.get_roster().all_keys()
        except Exception:  # noqa: BLE001 - no roster at all
            return False

    def _perform(self, action: str, method: Any, args: tuple, kwargs: dict) -> Any:
        bound = inspect.signature(method).bind(*args, **kwargs)
        arguments: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            parameter = bound.signature.parameters[name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[name] = value
        claimed = arguments.pop("actor", None)
        for name in KEY_LINES:
            if isinstance(arguments.get(name), str):
                arguments[name] = _without_comment(arguments[name])
        signer = self._identity()
        if action == "found_roster":
            person = arguments["administrator"]
            own = _without_comment(signer.public_key_line)
            given = arguments.get("public_key")  # already without its comment (KEY_LINES)
            if given and given != own:
                raise NotAuthorised(person, "the founder's key must be the key signing this")
            arguments["public_key"] = own
        elif action == "add_key" and self._legacy_roster() and arguments.get("person") == claimed:
            person = claimed  # a roster from before keys: its administrator's own first key
        else:
            person = self._person_of(signer.fingerprint)
        if claimed and claimed != person:
            raise NotAuthorised(
                claimed, f"the signing key ({signer.fingerprint}) is {person}'s, not {claimed}'s"
            )
        target = ACTIONS[action](arguments)
        encoded, redactions = screen_arguments(
            action, encode_args(arguments), redact=self._redact(), commit=self._committer())
        for attempt in range(RESIGN_ATTEMPTS):
            intent = Intent(
                action=action,
                target=target,
                version=self._app.target_version(target),
                args=encoded,
                signer=person,
                at=utcnow(),
                redactions=redactions,
            )
            payload = intent.to_bytes()
            try:
                return self._app.perform(SignedIntent(payload, signer.sign(payload, NAMESPACE)))
            except StaleIntent:
                if attempt == RESIGN_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _without_comment(line: str) -> str:
    """A well-formed key line without its comment; anything else as given, for the
    application to refuse in its own words."""
    try:
        return parse_public_key_line(line).line(comment=False)
    except SshSignatureError:
        return line
def _no_key(_: bytes) -> str:
    raise NotAuthorised("redaction", "no redaction key is configured to commit to the original")

