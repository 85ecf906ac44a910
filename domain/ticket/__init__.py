"""The change ticket: one live session from approvals to a sealed archive.

Import from here: the aggregate `Ticket` (its events are `Ticket.Opened`,
...), `ticket_id` and the key and text rules. The modules split it by job:
`events` (what is stored), `inputs` (keys, digests, one-line text), the
runbook's rules by section (`evidence`, `runs`, `archives`) and `aggregate`,
which records events once those rules allow it.
"""

from opsledger.domain.ticket.aggregate import AUTHORISED_EVENTS, Ticket
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
