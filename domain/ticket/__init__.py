"""The change ticket: one live session from approvals to a sealed archive.

Import from here: the aggregate `Ticket` (its events are `Ticket.Opened`,
...), `ticket_id` and the key and text rules. The modules split it by job:
`events` (what is stored), `inputs` (keys, digests, one-line text), the
runbook's rules by section (`evidence`, `runs`, `archives`) and `aggregate`,
which records events once those rules allow it.

Each name is imported from its module when first asked for (PEP 562), so
that reading a key rule does not build the aggregate's pydantic events.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsledger.domain.ticket.aggregate import Ticket
    from opsledger.domain.ticket.authorised import AUTHORISED_EVENTS
    from opsledger.domain.ticket.events import AuthorisedEvent, Outcome, TicketEvent
    from opsledger.domain.ticket.evidence import check_spec
    from opsledger.domain.ticket.inputs import (
        DIGEST,
        SHA256_HEX,
        STRATEGY_ID,
        TICKET_KEY,
        ticket_id,
        validate_key,
        validate_text,
    )

_WHERE = {
    "AUTHORISED_EVENTS": "authorised",
    "Ticket": "aggregate",
    "AuthorisedEvent": "events",
    "Outcome": "events",
    "TicketEvent": "events",
    "check_spec": "evidence",
    "DIGEST": "inputs",
    "SHA256_HEX": "inputs",
    "STRATEGY_ID": "inputs",
    "TICKET_KEY": "inputs",
    "ticket_id": "inputs",
    "validate_key": "inputs",
    "validate_text": "inputs",
}


__all__ = [
    "AUTHORISED_EVENTS",
    "AuthorisedEvent",
    "DIGEST",
    "Outcome",
    "SHA256_HEX",
    "STRATEGY_ID",
    "TICKET_KEY",
    "Ticket",
    "TicketEvent",
    "check_spec",
    "ticket_id",
    "validate_key",
    "validate_text",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
