"""The ticket's events the roster must allow (see domain.roster); an audit
replays each. They are those events.py declares as AuthorisedEvent, in the
order Ticket's class body names them."""

from __future__ import annotations

from opsledger.domain.ticket.aggregate import Ticket
from opsledger.domain.ticket.events import AuthorisedEvent

AUTHORISED_EVENTS: tuple[type[AuthorisedEvent], ...] = tuple(
    e for e in vars(Ticket).values() if isinstance(e, type) and issubclass(e, AuthorisedEvent)
)
