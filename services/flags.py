"""Feature flags such as live.enabled: one audit trail of changes across tickets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsledger.domain.flag_rules import as_bool
from opsledger.domain.runbook import Role

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def set_flag(
    services: Services,
    name: str,
    *,
    value: str,
    reason: str,
    ticket: str | None,
    actor: str,
    role: Role | None,
) -> dict[str, Any]:
    """Records that flag `name` is now `value`; `changed` is false (and nothing
    is recorded) when it already was."""
    old, new, changed = services.app.set_flag(
        name, value=value, actor=actor, role=role, reason=reason, ticket=ticket
    )
    return {"flag": name, "old": old, "new": new, "changed": changed}


def flag_value(services: Services, name: str) -> dict[str, Any]:
    """The recorded value of flag `name`: a bool for a boolean flag (stored as
    true/false), else its text; None if it was never set."""
    value = services.log.flag_value(name)  # read as stored, unsigned
    if value in ("true", "false"):
        return {"flag": name, "value": as_bool(value)}
    return {"flag": name, "value": value}
