"""The service layer's own errors: a use case put its failure into words.

Each says which kind of failure it is, never how to exit: `cli/errors.py`
maps the kinds to exit codes (Refused 1, InvalidRequest 2, Incomplete 3), and
the HTTP service will map them to status codes.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A use case could not be carried out; the message is for the user."""


class Refused(ServiceError):
    """A rule or a check said no (a closed ticket, a failed verification)."""


class InvalidRequest(ServiceError):
    """The request itself is wrong: a missing folder, a malformed value."""


class Incomplete(ServiceError):
    """Work was left unfinished: a store lagging or unreachable, a record that
    could not be written after the action it records had happened."""


class NoStore(Incomplete):
    """A reading command found no store where it was pointed: none is created."""
