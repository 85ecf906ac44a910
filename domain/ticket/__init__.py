"""The change ticket: one live session from approvals to a sealed archive.

Import from here: the aggregate `Ticket` (its events are `Ticket.Opened`,
...), `ticket_id` and the key and text rules. The modules split it by job:
`events` (what is stored), `inputs` (keys, digests, one-line text), the
runbook's rules by section (`evidence`, `runs`, `archives`) and `aggregate`,
which records events once those rules allow it.
"""

from opsledger.domain.ticket.aggregate import Ticket
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

# The events the roster must allow (see domain.roster); an audit replays each.
# They are those events.py declares as AuthorisedEvent, in Ticket's class body's order.
AUTHORISED_EVENTS: tuple[type[AuthorisedEvent], ...] = tuple(
    e for e in vars(Ticket).values() if isinstance(e, type) and issubclass(e, AuthorisedEvent)
)

__all__ = [
    "AUTHORISED_EVENTS",
    "DIGEST",
    "SHA256_HEX",
    "STRATEGY_ID",
    "TICKET_KEY",
    "AuthorisedEvent",
    "Outcome",
    "Ticket",
    "TicketEvent",
    "check_spec",
    "ticket_id",
    "validate_key",
    "validate_text",
]
