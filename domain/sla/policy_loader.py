"""Reading a desk's SLA policy document (TOML or JSON) over the runbook defaults.

A desk states only what differs::

    desk = "rates"
    [rules.order_latency]
    threshold = 150
    matchers = ['desk="rates"', 'env=~"prod|dr"']

The caller opens the file; every fault is a ``PolicyError`` with a one-line message that
names the source and the rule and field at fault.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any, BinaryIO, Literal

from opsledger.domain.sla.errors import PolicyError
from opsledger.domain.sla.policy import Policy, runbook_rules
from pydantic import ValidationError


def load_policy(
    data: bytes | BinaryIO, source: str, *, fmt: Literal["json", "toml"] | None = None
) -> Policy:
    """Validate a desk policy document (TOML or JSON) layered over the runbook defaults.

    Document keys: ``desk``; ``defaults`` ("runbook", the default, or "none" to start
    empty); ``rules``, a table keyed by rule id (or a list of rules with ``id``);
    ``source``, ignored (``sla policy show --json`` writes it). A table
    for an existing id overrides only the fields it names; a new id needs ``kind``.
    ``fmt`` defaults to the source's suffix, then to sniffing the first character.
    Raises ``PolicyError`` with a one-line message.
    """
    raw = data if isinstance(data, bytes | bytearray | memoryview) else _read(data, source)
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(source, f"not UTF-8 at byte {exc.start}") from None
    doc = _parse_document(text, source, fmt or _guess_format(source, text))
    return _policy_from_document(doc, source)


def _read(stream: BinaryIO, source: str) -> bytes:
    try:
        return stream.read()
    except OSError as exc:
        raise PolicyError(source, f"cannot read: {exc}") from None


def _guess_format(source: str, text: str) -> Literal["json", "toml"]:
    lowered = source.lower()
    if lowered.endswith(".toml"):
        return "toml"
    if lowered.endswith(".json"):
        return "json"
    return "json" if text.lstrip().startswith("{") else "toml"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _parse_document(text: str, source: str, fmt: str) -> Any:
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(source, f"TOML syntax: {exc}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            source, f"JSON syntax at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise PolicyError(source, f"JSON: {exc}") from None


def _policy_from_document(doc: Any, source: str) -> Policy:
    if not isinstance(doc, dict):
        raise PolicyError(source, "the document must be a table/object")
    # `source` is what `sla policy show --json` adds (where it read the policy): it is
    # accepted and ignored, so that output can be checked and used as a policy file.
    unknown = sorted(set(doc) - {"desk", "defaults", "rules", "source"})
    if unknown:
        raise PolicyError(
            source, f"unknown key(s) {', '.join(unknown)}; expected desk, defaults, rules"
        )
    defaults = doc.get("defaults", "runbook")
    if defaults not in ("runbook", "none"):
        raise PolicyError(source, f"defaults must be 'runbook' or 'none', not {defaults!r}")
    merged: dict[str, dict[str, Any]] = {}
    if defaults == "runbook":
        merged = {rule.id: rule.model_dump() for rule in runbook_rules()}
    for rule_id, override in _rule_overrides(doc.get("rules", {}), source):
        base = merged.get(rule_id)
        if base is not None and override.get("kind", base.get("kind")) == base.get("kind"):
            merged[rule_id] = {**base, **override, "id": rule_id}
        else:
            merged[rule_id] = {**override, "id": rule_id}
    fields: dict[str, Any] = {"rules": list(merged.values())}
    if "desk" in doc:
        fields["desk"] = doc["desk"]
    try:
        return Policy.model_validate(fields)
    except ValidationError as exc:
        raise PolicyError(source, _describe(exc, list(merged))) from None


def _rule_overrides(raw: Any, source: str) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for index, rule in enumerate(raw):
            if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
                raise PolicyError(source, f"rules[{index}] must be an object with a string id")
            items.append((rule["id"], rule))
    else:
        raise PolicyError(source, "rules must be a table keyed by rule id, or a list")
    result = []
    seen: set[str] = set()
    for rule_id, override in items:
        if rule_id in seen:
            raise PolicyError(source, f"rule id {rule_id!r} appears twice")
        seen.add(rule_id)
        if not isinstance(override, dict):
            raise PolicyError(source, f"rules.{rule_id} must be a table/object")
        if "id" in override and override["id"] != rule_id:
            raise PolicyError(source, f"rules.{rule_id} has a different id {override['id']!r}")
        result.append((str(rule_id), override))
    return result


def _describe(exc: ValidationError, rule_ids: list[str]) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        # Name rules by id, and drop the union tag pydantic inserts after the index.
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rule_id = rule_ids[loc[1]] if loc[1] < len(rule_ids) else str(loc[1])
            rest = loc[3:] if len(loc) >= 3 and loc[2] in ("heartbeat", "threshold") else loc[2:]
            loc = ["rules", rule_id, *rest]
        path = ".".join(str(part) for part in loc) or "policy"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
            message = 'kind must be "heartbeat" or "threshold" (a new rule must name it)'
        parts.append(f"{path}: {message}")
    return "; ".join(parts)
