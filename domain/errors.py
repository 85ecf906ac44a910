"""Domain errors: each names the runbook rule it enforces.

Every error carries the aggregate it concerns (a ticket key, a flag name, a
shift), so a message can always be traced back to one record.
"""

from __future__ import annotations


class DomainError(Exception):
    """A runbook rule refused a command. Nothing was recorded."""

    def __init__(self, subject: str, message: str) -> None:
        super().__init__(f"{subject}: {message}")
        self.subject = subject
        self.message = message


class InvalidInput(DomainError):
    """A value is malformed (a ticket key, a digest, a role name)."""


class NotFound(DomainError):
    """The ticket, flag or shift does not exist."""


class AlreadyExists(DomainError):
    """A ticket with that key was opened before."""


class WrongRole(DomainError):
    """Evidence or an approval was given by a role that does not own it."""


class NotAuthorised(DomainError):
    """The roster does not grant the actor a role that may do this."""


class RosterRuleError(DomainError):
    """A roster change breaks separation of duties (self-grant, last administrator)."""


class SameSigner(DomainError):
    """The production cutover gate needs two distinct people."""


class SelfApproval(DomainError):
    """The person who opened a change ticket cannot give its change-ticket approval."""


class ReasonRequired(DomainError):
    """`kill` and corrections need a reason on the record."""


class TicketClosedError(DomainError):
    """Nothing may be recorded on a closed ticket."""


class ArchiveRequired(DomainError):
    """A ticket closes only with a sealed and verified archive."""


class CommandStateError(DomainError):
    """A command was finished twice, or finished without being started."""


class EvidenceNotFound(DomainError):
    """A correction names evidence the ticket does not hold."""


class ConcurrencyError(DomainError):
    """Other writers kept winning the race for this record; retry later."""
