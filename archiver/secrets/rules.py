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

import math
import re
from collections import Counter

MAX_TRIGGER = 8 << 10  # longer than any trigger match
MAX_MATCH = 64 << 10  # longer than any rule match
KEY_BLOCK_MAX_LINES = 1000  # an unterminated key block stops being one after this

ENTROPY_THRESHOLD = 3.0  # bits per character; base64/random secrets sit well above
MIN_ASSIGNED_LENGTH = 10

_WS = rb"[ \t]{0,64}"
_ANY_WS = rb"[ \t]*"
_NAMES = (rb"(?:secret|token|passwd|password|pwd|api[_-]?key|access[_-]?key|auth[_-]?key"
          rb"|credentials?)")
_KEY_ARMOUR = rb"[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----"

# (kind, rule, group holding the secret, trigger), in priority order: a later
# rule's hit that overlaps an earlier one is not reported twice.
_KINDS: tuple[tuple[str, bytes, int, bytes], ...] = (
    ("gcp-service-account-key",
     rb'"private_key"' + _WS + rb":" + _WS + rb'"(-----BEGIN[^"\n]{0,16384}?)"', 1,
     rb'"private_key"' + _ANY_WS + rb":" + _ANY_WS + rb'"-----BEGIN'),
    ("private-key",
     rb"-----BEGIN" + _KEY_ARMOUR + rb".{0,32768}?-----END" + _KEY_ARMOUR, 0,
     rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY"),
    ("aws-access-key", rb"(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])", 1,
     rb"(?:AKIA|ASIA)[A-Z0-9]{16}"),
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
     rb"(?i)" + _NAMES + rb"[A-Za-z0-9_.-]{0,64}[\"']?" + _WS + rb"(?::=|=>|:|=)" + _WS
     + rb"[\"']?([A-Za-z0-9+/=_.~:-]{10,512})", 1,
     rb"(?i)" + _NAMES + rb"[A-Za-z0-9_.-]*[\"']?" + _ANY_WS + rb"(?::=|=>|:|=)" + _ANY_WS
     + rb"[\"']?[A-Za-z0-9+/=_.~:-]{10}"),
)

RULES: tuple[tuple[str, re.Pattern[bytes], int], ...] = tuple(
    (kind, re.compile(rule), group) for kind, rule, group, _ in _KINDS
)
TRIGGERS: tuple[bytes, ...] = tuple(trigger for *_, trigger in _KINDS)  # same order as RULES
# Its trigger fires on every BEGIN line, which may open a multi-line key block.
PRIVATE_KEY = next(i for i, (kind, *_) in enumerate(_KINDS) if kind == "private-key")

# Lower-cased words, one inside every trigger's match near its start: the
# stdlib fallback's triggers where Hyperscan is not installed.
ANCHORS = (b"akia", b"asia", b"key", b"sig=", b"bearer", b"eyj", b"://", b"secret", b"token",
           b"passw", b"pwd", b"credential")

KEY_BEGIN = re.compile(rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----")
KEY_END = re.compile(rb"-----END" + _KEY_ARMOUR)

_DIGEST_HEX = re.compile(rb"(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})")
_DIGEST_PREFIX = re.compile(rb"(?i)(?:sha1|sha256|sha384|sha512|md5):")
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(rb"(?:[*xX.]+|\$.*|<.*|\{.*|%s|changeme|redacted|REDACTED.*)")


def fingerprint(secret: bytes) -> str:
    """First four characters and the length; a key block's header is skipped,
    since every key starts with the same one."""
    header = KEY_BEGIN.match(secret)
    material = secret[header.end():].removeprefix(b"\\n").lstrip() if header else secret
    head = material[:4].decode("ascii", "replace")
    return f"{head}…({len(secret)} chars)"


def shannon_entropy(value: bytes) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _is_assigned_secret(value: bytes) -> bool:
    """Whether a value assigned to a secret-sounding name looks like a credential;
    digests (pure hex of 40/64/128, ``sha256:...``) and UUIDs are everywhere in
    our logs and are not."""
    value = value.strip(b"\"'")
    if len(value) < MIN_ASSIGNED_LENGTH or _PLACEHOLDER.fullmatch(value):
        return False
    if _DIGEST_HEX.fullmatch(value) or _DIGEST_PREFIX.match(value) or _UUID.fullmatch(value):
        return False
    has_letter = any(65 <= b <= 90 or 97 <= b <= 122 for b in value)
    has_digit = any(48 <= b <= 57 for b in value)
    return has_letter and has_digit and shannon_entropy(value) >= ENTROPY_THRESHOLD


def accept(kind: str, secret: bytes) -> bool:
    """Whether a rule's match is a credential rather than a look-alike."""
    if kind == "high-entropy-assignment":
        return _is_assigned_secret(secret)
    if kind == "url-password":
        return not _PLACEHOLDER.fullmatch(secret)
    return True
