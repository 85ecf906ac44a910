"""The roster's SSH keys: which person signs with which key, and when.

A person may hold several keys (a laptop key, a FIDO token, a spare). Each
key has a window: valid from when it was added (`valid_after`) until it is
revoked (`valid_before`, exclusive). A revoked key keeps verifying what it
signed inside its window, so the record made with it stays provable; it
verifies nothing signed after. A fingerprint belongs to one person only,
ever: a key that was revoked is not given out again, to anyone.

Accepted key types: ssh-ed25519, ecdsa-sha2-nistp256/384/521, and the FIDO
sk-ssh-ed25519@openssh.com / sk-ecdsa-sha2-nistp256@openssh.com. ssh-rsa is
refused: the audit trail must verify for years, the desk issues keys for this
purpose (so nobody is stuck with a legacy key), and RSA is the key type with
the longest history of weak sizes and SHA-1 signatures; keeping it out keeps
the verifiers' surface to the modern curves.

Who adds a key: an administrator, for someone else. One exception: while the
roster holds no key at all (founded before keys existed, or founded without a
key), an administrator may register their own first key, once. The command
adding it is itself signed with that key, so the signature proves they hold
its private half; and a store written before signing has no other way in:
nobody holds a key that could sign an administrator's adding one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opsledger.domain.errors import InvalidInput, NotAuthorised, NotFound, RosterRuleError
from opsledger.domain.sshsig import (
    ECDSA_CURVES,
    ED25519,
    SK_ED25519,
    PublicKey,
    SshSignatureError,
    allowed_signers_line,
    parse_public_key_line,
)

ACCEPTED_KEY_TYPES = frozenset({ED25519, SK_ED25519, *ECDSA_CURVES})


class InvalidKey(InvalidInput):
    """A public key line that is malformed, or of a type the roster does not accept (rsa, dsa)."""


class KeyNotFound(NotFound):
    """The person holds no key with that fingerprint."""


class KeyHeldByAnother(RosterRuleError):
    """A fingerprint belongs to one person only: the key is someone else's."""


class RevokedKeyReused(RosterRuleError):
    """A revoked key is never added again (it may have leaked; its window is closed)."""


class SelfKeyRegistration(RosterRuleError):
    """An administrator adds keys for others, not for themselves (but see `add_key`)."""


class KeyNotValid(NotAuthorised):
    """The signing key is not the person's, or not valid at the time it signed."""


@dataclass(frozen=True)
class KeyRecord:
    """One key of one person, with its window [valid_after, valid_before)."""

    person: str
    public_key: str  # the OpenSSH line, `TYPE BASE64`, no comment
    key_type: str
    fingerprint: str
    valid_after: datetime
    added_by: str
    valid_before: datetime | None = None
    revoked_by: str | None = None

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.public_key.split()[1])

    @property
    def revoked(self) -> bool:
        return self.valid_before is not None

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_after <= moment and (
            self.valid_before is None or moment < self.valid_before
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "person": self.person,
            "fingerprint": self.fingerprint,
            "key_type": self.key_type,
            "public_key": self.public_key,
            "valid_after": self.valid_after,
            "valid_before": self.valid_before,
            "added_by": self.added_by,
            "revoked_by": self.revoked_by,
        }


def accepted_key(line: str) -> PublicKey:
    """A `.pub` line parsed strictly (domain.sshsig) and checked against the accepted types."""
    try:
        key = parse_public_key_line(line)
    except SshSignatureError as e:
        raise InvalidKey("public key", e.message) from None
    if key.key_type not in ACCEPTED_KEY_TYPES:
        raise InvalidKey(
            "public key",
            f"{key.key_type} keys are not accepted; use ed25519, ecdsa or a FIDO (sk-) key "
            "(ssh-keygen -t ed25519)",
        )
    return key


def authenticate(keys: Iterable[KeyRecord], person: str, public_key: bytes, at: datetime) -> KeyRecord:
    """The key record of `person` whose blob is `public_key` and valid at `at`, or KeyNotValid."""
    mine = [k for k in keys if k.blob == public_key]
    if not mine:
        raise KeyNotValid(person, "the signing key is not in the roster")
    held = [k for k in mine if k.person == person]
    if not held:
        raise KeyNotValid(person, f"the signing key is {mine[0].person}'s, not {person}'s")
    for record in held:
        if record.valid_at(at):
            return record
    record = held[0]
    if at < record.valid_after:
        raise KeyNotValid(
            person, f"the key {record.fingerprint} was added after {at.isoformat()} (it signed "
            "before it was valid)"
        )
    raise KeyNotValid(
        person, f"the key {record.fingerprint} was revoked before {at.isoformat()}"
    )


def allowed_signers(keys: Iterable[KeyRecord]) -> str:
    """An OpenSSH allowed_signers file: one line per key, principal = its person,
    namespaces="opsledger", the key's window as valid-after/valid-before.

    OpenSSH reads whole seconds and its valid-before is inclusive, where the
    roster's is exclusive: the window written is the whole seconds inside the
    roster's, so OpenSSH never accepts a time the roster refuses. A key revoked
    within the second it was added has no such second; it is written as a
    comment, so the file still names it.
    """
    lines = []
    for k in sorted(keys, key=lambda k: (k.person, k.valid_after, k.fingerprint)):
        after = _ceil_second(k.valid_after)
        before = None if k.valid_before is None else _ceil_second(k.valid_before) - _SECOND
        if before is not None and before < after:
            lines.append(f"# {k.person} {k.fingerprint}: revoked within a second of being added")
            continue
        lines.append(allowed_signers_line(
            [k.person], PublicKey(k.key_type, k.blob), valid_after=after, valid_before=before
        ))
    return "".join(line + "\n" for line in lines)


_SECOND = timedelta(seconds=1)


def _ceil_second(moment: datetime) -> datetime:
    if not moment.microsecond:
        return moment
    return moment.replace(microsecond=0) + _SECOND


def founding_keys(actor: str, administrator: str, public_key: str | None,
                  second: str | None, second_key: str | None) -> tuple[str | None, str | None]:
    """The founders' key lines, checked: two founders are two people with two keys."""
    from opsledger.domain.roster import validate_person

    line = None if public_key is None else accepted_key(public_key).line(comment=False)
    if second is None:
        if second_key is not None:
            raise InvalidInput("roster", "a second key needs a second administrator")
        return line, None
    validate_person(second)
    if second == administrator:
        raise RosterRuleError(actor, "the two founding administrators must be two people")
    if second_key is None:
        raise InvalidInput(second, "the second administrator needs a key")
    second_line = accepted_key(second_key).line(comment=False)
    if second_line == line:
        raise RosterRuleError(actor, "the two founding administrators need two keys")
    return line, second_line


def first_key(person: str, line: str, valid_after: datetime, actor: str) -> KeyRecord:
    """A founder's key, valid from the founding."""
    key = accepted_key(line)
    return KeyRecord(person=person, public_key=line, key_type=key.key_type,
                     fingerprint=key.fingerprint, valid_after=valid_after, added_by=actor)
