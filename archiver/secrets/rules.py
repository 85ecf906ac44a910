"""What a credential looks like: the rules the secret scanner applies.

Each kind has two forms. The *rule* (Python ``re``) is the judge: it says
exactly which bytes are the secret, and ``accept`` then drops look-alikes
(digests, UUIDs, placeholders, low-entropy values). The *trigger* is the
rule's opening, written for a multi-pattern engine (Hyperscan) that runs
over every byte of the payload; only where a trigger ends does the rule run.

Two bounds tie the forms together, and the scanner relies on them:

* wherever a rule matches, its trigger matches from the same start (a
  trigger is the rule's opening, with the same or looser classes and
  repeats), and ends at most ``MAX_TRIGGER`` bytes after that start;
* no rule matches more than ``MAX_MATCH`` bytes (a unit test checks it with
  ``re``'s own width computation), so it ends at most that far after the
  trigger's end. Hence the rules' repeats are bounded where the old rules
  had ``*`` or ``{n,}``.

Triggers use ``*``/``+`` where the rule has large bounded repeats: the
matches are the same where a rule matches, and Hyperscan compiles them in a
tenth of the time (compiling happens once per process, before each build).

No rule or trigger matches a line end: every secret sits on one line, except
multi-line private key blocks, which the scanner follows line by line from
their BEGIN line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from importlib import resources

MAX_TRIGGER = 8 << 10  # longer than any trigger match
MAX_MATCH = 64 << 10  # longer than any rule match
KEY_BLOCK_MAX_LINES = 1000  # an unterminated key block stops being one after this

ENTROPY_THRESHOLD = 3.0  # bits per character; base64/random secrets sit well above
MIN_ASSIGNED_LENGTH = 10

_WS = rb"[ \t]{0,64}"
_ANY_WS = rb"[ \t]*"
# Names after which a value is a secret. A bare `key` needs a stronger value
# (see ``_is_assigned_secret``); the trigger cannot look behind, the rule does.
_NAMES = (rb"(?:secret|token|passwd|password|passphrase|pwd|api[_-]?key|access[_-]?key"
          rb"|auth[_-]?key|private[_-]?key|credentials?|(?<![a-z0-9])key(?![a-z])"
          rb"|(?<![a-z0-9])pw(?![a-z]))")
_TRIGGER_NAMES = rb"(?:secret|token|passwd|password|passphrase|pwd|pw|key|credential)"
# Any separator: `=`, `:`, `:=`, `=>`, or whitespace alone (`aws_secret_access_key
# VALUE`, `--password VALUE`); the value runs to whitespace, a quote, `,` or `;`.
_SEPARATOR = rb"(?:" + _WS + rb"(?P<sep>:=|=>|:|=)" + _WS + rb"|[ \t]{1,64})"
# printable ASCII but for quotes, `,` and `;`: random binary bytes rarely run long
_VALUE = rb"[\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3c-\x5f\x61-\x7e]"
_KEY_ARMOUR = rb"[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----"

# (kind, rule, group holding the secret, trigger), in priority order: a later
# rule's hit that overlaps an earlier one is not reported twice.
_BUILTIN: tuple[tuple[str, bytes, int | str, bytes], ...] = (
    ("gcp-service-account-key",
     rb'"private_key"' + _WS + rb":" + _WS + rb'"(-----BEGIN[^"\n]{0,16384}?)"', 1,
     rb'"private_key"' + _ANY_WS + rb":" + _ANY_WS + rb'"-----BEGIN'),
    ("private-key",
     rb"-----BEGIN" + _KEY_ARMOUR + rb".{0,32768}?-----END" + _KEY_ARMOUR, 0,
     rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY"),
    ("aws-access-key", rb"(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])", 1,
     rb"(?:AKIA|ASIA)[A-Z0-9]{16}"),
)
_GENERIC: tuple[tuple[str, bytes, int | str, bytes], ...] = (
    ("azure-storage-key",
     rb"(?i)\b(?:AccountKey|SharedAccessKey)" + _WS + rb"=" + _WS
     + rb"([A-Za-z0-9+/]{20,4096}={0,2})", 1,
     rb"(?i)(?:AccountKey|SharedAccessKey)" + _ANY_WS + rb"=" + _ANY_WS + rb"[A-Za-z0-9+/]{20}"),
    ("azure-sas-token", rb"[?&;]sig=([A-Za-z0-9%+/]{20,4096}(?:%3D|=){0,2})", 1,
     rb"[?&;]sig=[A-Za-z0-9%+/]{20}"),
    ("bearer-token",
     rb"(?i)\bauthorization[\"']?" + _WS + rb"[:=]" + _WS + rb"[\"']?bearer[ \t]{1,64}"
     rb"([A-Za-z0-9._~+/-]{8,4096}={0,4})", 1,
     rb"(?i)authorization[\"']?" + _ANY_WS + rb"[:=]" + _ANY_WS + rb"[\"']?bearer[ \t]+"
     rb"[A-Za-z0-9._~+/-]{8}"),
    ("jwt",
     rb"\b(eyJ[A-Za-z0-9_-]{5,4096}\.eyJ[A-Za-z0-9_-]{5,8192}\.[A-Za-z0-9_-]{0,4096})", 1,
     rb"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5}"),
    ("url-password",
     rb"\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@\"'<>]{1,256}:([^\s@/\"'<>]{1,256})@"
     rb"[A-Za-z0-9\[]", 1,
     rb"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\"'<>]+:[^\s@/\"'<>]+@[A-Za-z0-9\[]"),
    ("high-entropy-assignment",
     rb"(?i)(?P<name>" + _NAMES + rb")[A-Za-z0-9_.-]{0,64}[\"']?" + _SEPARATOR
     + rb"[\"']?(?P<value>" + _VALUE + rb"{6,512})", "value",
     rb"(?i)" + _TRIGGER_NAMES + rb"[A-Za-z0-9_.-]*[\"']?(?:" + _ANY_WS + rb"(?::=|=>|:|=)"
     + _ANY_WS + rb"|[ \t]+)[\"']?" + _VALUE + rb"{6}"),
)


@dataclass(frozen=True)
class DataRule:
    """One ``[[rules]]`` entry of ``provider_rules.toml``."""

    kind: str
    regex: bytes
    group: int | str
    trigger: bytes
    keywords: tuple[bytes, ...]
    redactable: bool
    check: str


def load_rules(text: str) -> tuple[DataRule, ...]:
    """The rules of a gitleaks-format TOML document (see provider_rules.toml)."""
    out = []
    for entry in tomllib.loads(text).get("rules", []):
        regex = entry["regex"].encode("latin-1")
        out.append(DataRule(
            kind=entry["id"],
            regex=regex,
            group=entry.get("secretGroup", 0),
            trigger=entry.get("trigger", entry["regex"]).encode("latin-1"),
            keywords=tuple(k.encode("latin-1") for k in entry.get("keywords", ())),
            redactable=entry.get("redactable", True),
            check=entry.get("check", ""),
        ))
    return tuple(out)


DATA_RULES = load_rules(
    resources.files(__package__).joinpath("provider_rules.toml").read_text(encoding="utf-8"))

_KINDS = _BUILTIN + tuple((r.kind, r.regex, r.group, r.trigger) for r in DATA_RULES) + _GENERIC

RULES: tuple[tuple[str, re.Pattern[bytes], int], ...] = tuple(
    (kind, pattern, group if isinstance(group, int) else pattern.groupindex[group])
    for kind, pattern, group in ((k, re.compile(rule), g) for k, rule, g, _ in _KINDS)
)
TRIGGERS: tuple[bytes, ...] = tuple(trigger for *_, trigger in _KINDS)  # same order as RULES
# Its trigger fires on every BEGIN line, which may open a multi-line key block.
PRIVATE_KEY = next(i for i, (kind, *_) in enumerate(_KINDS) if kind == "private-key")
# Kinds whose bytes --redact cannot replace: the file must be re-created by hand.
UNREDACTABLE = frozenset(r.kind for r in DATA_RULES if not r.redactable) | {"unscannable"}
_CHECKS = {r.kind: r.check for r in DATA_RULES if r.check}

# Lower-cased words, one inside every trigger's match near its start: the
# stdlib fallback's triggers where Hyperscan is not installed.
ANCHORS = tuple(dict.fromkeys(
    (b"akia", b"asia", b"key", b"sig=", b"bearer", b"eyj", b"://", b"secret", b"token",
     b"passw", b"passp", b"pw", b"credential")
    + tuple(k for r in DATA_RULES for k in r.keywords)))

KEY_BEGIN = re.compile(rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----")
KEY_END = re.compile(rb"-----END" + _KEY_ARMOUR)

_DIGEST_HEX = re.compile(rb"(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})")
_DIGEST_PREFIX = re.compile(rb"(?i)(?:sha1|sha256|sha384|sha512|md5):")
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(rb"(?i)(?:[*xX.]+|\$.*|<.*|\{.*|%s|changeme|redacted.*|true|false"
                          rb"|null|none|nil|required|optional|unset|empty|hidden|masked)")
REDACTED_MARK = b"[REDACTED:"
_STRONG_NAMES = frozenset({b"password", b"passwd", b"pwd", b"pw", b"passphrase"})
# A per-process key: a finding's fingerprint tells two findings of one report
# apart (or the same secret twice), and says nothing about the secret itself.
_FINGERPRINT_KEY = os.urandom(32)


def fingerprint(secret: bytes) -> str:
    """A keyed digest of the secret, never a prefix or its length: equal
    secrets have equal fingerprints within one process, and a dictionary
    cannot be tried against it (the key is random and never shown)."""
    return "fp:" + hmac.new(_FINGERPRINT_KEY, secret, hashlib.sha256).hexdigest()[:12]


def shannon_entropy(value: bytes) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _is_assigned_secret(value: bytes, name: bytes = b"", separator: bool = True) -> bool:
    """Whether a value after a secret-sounding name looks like a credential.

    After ``password``/``passwd``/``pwd``/``passphrase`` and an explicit
    separator (``password: hunter2``) any real value counts; otherwise the
    value must look random: long enough, letters and digits, high entropy
    (a bare ``key`` asks for more). Digests (pure hex of 40/64/128,
    ``sha256:...``), UUIDs and placeholders are everywhere in our logs and
    are not secrets."""
    value = value.strip(b"\"'")
    if _PLACEHOLDER.fullmatch(value) or REDACTED_MARK in value:
        return False
    if _DIGEST_HEX.fullmatch(value) or _DIGEST_PREFIX.match(value) or _UUID.fullmatch(value):
        return False
    name = name.lower()
    if separator and name in _STRONG_NAMES:
        return len(value) >= 12 or not value.isalpha() or not value.islower()
    bare_key = name == b"key"
    if len(value) < (16 if bare_key else MIN_ASSIGNED_LENGTH):
        return False
    has_letter = any(65 <= b <= 90 or 97 <= b <= 122 for b in value)
    has_digit = any(48 <= b <= 57 for b in value)
    threshold = ENTROPY_THRESHOLD + (0.5 if bare_key else 0.0)
    return has_letter and has_digit and shannon_entropy(value) >= threshold


def _base64_private_key(run: bytes) -> bool:
    """Whether a base64 run decodes (at any alignment) to a PEM private key."""
    run = run.rstrip(b"=")
    for pad in (b"", b"A", b"AA", b"AAA"):
        body = pad + run
        body = body[: len(body) - len(body) % 4]
        try:
            decoded = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            continue
        if b"PRIVATE KEY" in decoded:
            return True
    return False


def accept(kind: str, secret: bytes, match: re.Match[bytes] | None = None) -> bool:
    """Whether a rule's match is a credential rather than a look-alike; a
    redacted copy (``[REDACTED:<kind>]``) never is."""
    if REDACTED_MARK in secret:
        return False
    if kind == "high-entropy-assignment":
        if match is None:
            return _is_assigned_secret(secret)
        return _is_assigned_secret(secret, match.group("name") or b"",
                                   match.group("sep") is not None)
    if kind == "url-password":
        # `https://[REDACTED:github-pat]@host`: the "password" is the marker's tail
        tail_of_marker = match is not None and REDACTED_MARK + secret in match.group(0)
        return not _PLACEHOLDER.fullmatch(secret) and not tail_of_marker
    if _CHECKS.get(kind) == "base64-private-key":
        return _base64_private_key(secret)
    return True
