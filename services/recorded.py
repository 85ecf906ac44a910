"""No secret into the permanent record: every string a command records is
scanned before it is signed.

`SigningApplication._perform` hands every recording call's arguments here,
as the JSON the signed intent will carry (so a pydantic breach, an alert's
labels and annotations, a script's argv and a reason are all plain strings
by then). Each string, each mapping key and each `--flag value` pair of a
list is scanned with the archive's own rules (`archiver.secrets`). A hit
refuses the command, naming the field and the kind, never the value; with
`--redact` the intent carries the string with each secret replaced by
`[REDACTED:<kind>]`, and a keyed commitment to the original
(`commitment`: HMAC-SHA256 under the desk's redaction key), so that whoever
holds that key can prove which original was redacted, and nobody holding
only the record or the archive can test guesses against it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsledger.archiver.secrets import hits as secret_hits
from opsledger.archiver.secrets.scanner import Span, scan_text, shown_name
from opsledger.domain.text import UNKEEPABLE
from opsledger.services.errors import InvalidRequest, Refused

COMMITMENT = "hmac-sha256:"
Commit = Callable[[bytes], str]


def commitment(key: bytes, original: bytes) -> str:
    """The keyed commitment to an original that a redaction replaced."""
    return COMMITMENT + hmac.new(key, original, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Hit:
    field: str  # where in the arguments: "argv[3]", "reason", "breaches[0].labels.token"
    kind: str
    fingerprint: str  # keyed (archiver.secrets.rules.fingerprint): no character of the secret

    def __str__(self) -> str:
        return f"{self.field}: {self.kind} ({self.fingerprint})"


class UnkeepableText(InvalidRequest):
    """A string holds a NUL or an unpaired surrogate (domain.text.UNKEEPABLE)."""

    def __init__(self, action: str, field: str) -> None:
        super().__init__(f"{action}: {field}: a NUL character or bytes that are not UTF-8, "
                         "which the record cannot keep; nothing recorded")


class SecretInRecord(Refused):
    """A string the command would record holds a secret; nothing was recorded."""

    def __init__(self, action: str, hits: list[Hit]) -> None:
        shown = "; ".join(str(h) for h in hits[:20])
        more = f"; and {len(hits) - 20} more" if len(hits) > 20 else ""
        super().__init__(
            f"{action}: refused, {len(hits)} secret(s) in what would be recorded, nothing "
            f"recorded: {shown}{more}. Remove the secret, or rerun with --redact to record "
            "it redacted (the command itself still gets the real value)"
        )
        self.hits = hits


class _Unkeepable(Exception):
    def __init__(self, field: str) -> None:
        self.field = field


def _engine() -> secret_hits.HitFinder:
    """The standard library's trigger pass: a command's strings are a few
    hundred bytes, where compiling Hyperscan's database (tens of ms, once per
    process) would cost more than it saves; the findings are the same."""
    return secret_hits.finder("stdlib")


def _spans(field: str, text: str) -> tuple[list[Span], list[Hit]]:
    if UNKEEPABLE.search(text):
        raise _Unkeepable(field)
    scanner = scan_text(field, [text.encode("utf-8", "surrogatepass")], engine=_engine())
    return list(scanner.spans), [Hit(field, f.kind, f.fingerprint) for f in scanner.findings]


class _Walk:
    def __init__(self, redact: bool, commit: Commit) -> None:
        self.redact, self.commit = redact, commit
        self.hits: list[Hit] = []
        self.commitments: dict[str, str] = {}

    def value(self, field: str, value: Any) -> Any:
        if isinstance(value, str):
            spans, hits = _spans(field, value)
            return self._settle(field, value, spans, hits)
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    out[k] = self.value(f"{field}.{k}", v)
                    continue
                spans, hits = _spans(f"{field}.<key>", k)
                # the path names a key without its secret, whatever happens to it
                shown = shown_name(k.encode("utf-8", "surrogatepass"), spans) if spans else k
                out[self._settle(f"{field}.<key {shown}>", k, spans, hits)] = self.value(
                    f"{field}.{shown}", v)
            return out
        if isinstance(value, list | tuple):
            return self._list(field, list(value))
        return value

    def _list(self, field: str, items: list[Any]) -> list[Any]:
        """Each item; and `--name value` pairs as `--name=value`, so that a value
        is judged by the name before it (`--password hunter2`)."""
        extra: dict[int, tuple[list[Span], list[Hit]]] = {}
        for i in range(len(items) - 1):
            flag, value = items[i], items[i + 1]
            if not (isinstance(flag, str) and isinstance(value, str) and flag.startswith("-")
                    and "=" not in flag and not value.startswith("-")):
                continue
            shift = len((flag + "=").encode("utf-8", "surrogatepass"))
            spans, hits = _spans(f"{field}[{i + 1}]", f"{flag}={value}")
            inside = [Span(s.start - shift, s.end - shift, s.kind) for s in spans
                      if s.start >= shift]
            if inside:
                extra[i + 1] = (inside, hits[: len(inside)])
        out = []
        for i, item in enumerate(items):
            name = f"{field}[{i}]"
            if isinstance(item, str):
                spans, hits = _spans(name, item)
                if i in extra and not spans:
                    spans, hits = extra[i]
                out.append(self._settle(name, item, spans, hits))
            else:
                out.append(self.value(name, item))
        return out

    def _settle(self, field: str, text: str, spans: list[Span], hits: list[Hit]) -> str:
        if not spans:
            return text
        if not self.redact:
            self.hits.extend(hits)
            return text
        raw = text.encode("utf-8", "surrogatepass")
        self.commitments[field] = self.commit(raw)
        return shown_name(raw, spans)


def screen_arguments(action: str, args: dict[str, Any], *, redact: bool,
                     commit: Commit) -> tuple[dict[str, Any], dict[str, str]]:
    """The arguments to sign and record, and the commitments to what was
    redacted ({field: "hmac-sha256:<hex>"}); refuses with `SecretInRecord`."""
    walk = _Walk(redact, commit)
    try:
        screened = {name: walk.value(name, value) for name, value in args.items()}
    except _Unkeepable as e:
        raise UnkeepableText(action, e.field) from None
    if walk.hits:
        raise SecretInRecord(action, walk.hits)
    return screened, walk.commitments
