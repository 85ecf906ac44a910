"""The recording methods a signed intent may name, and where each records.

Each action is an application method; its target (the aggregate whose
version the signature binds) is read from the method's own arguments, so
the client and the application agree on it without a second declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from opsledger.domain.flag import validate_flag_name
from opsledger.domain.roster import validate_person
from opsledger.domain.signing import target_of
from opsledger.domain.ticket.inputs import validate_key
from opsledger.domain.tokens import validate_token_id

TargetOf = Callable[[Mapping[str, Any]], str]


# A key the record would refuse is refused as the record refuses it (InvalidInput),
# before it is made into a target a signed intent could not even carry.


def _ticket(args: Mapping[str, Any]) -> str:
    return target_of("ticket", validate_key(args["key"]))


def _roster(_: Mapping[str, Any]) -> str:
    return target_of("roster", "desk")


def _flag(args: Mapping[str, Any]) -> str:
    return target_of("flag", validate_flag_name(args["name"]))


def _token(args: Mapping[str, Any]) -> str:
    return target_of("token", validate_token_id(args["token_id"]))


def _shift(args: Mapping[str, Any]) -> str:
    day = args["day"]
    operator = validate_person(args["operator"])
    return target_of("shift", f"{operator}/{day.isoformat() if isinstance(day, date) else day}")


ACTIONS: dict[str, TargetOf] = {
    # the roster
    "found_roster": _roster,
    "grant_role": _roster,
    "revoke_role": _roster,
    "confirm_proposal": _roster,
    "add_key": _roster,
    "revoke_key": _roster,
    # the change ticket
    "open_ticket": _ticket,
    "attach_evidence": _ticket,
    "supersede_evidence": _ticket,
    "approve": _ticket,
    "evaluate_gate": _ticket,
    "start_command": _ticket,
    "finish_command": _ticket,
    "observe_flag": _ticket,
    "record_breach": _ticket,
    "record_breaches": _ticket,
    "declare_payload": _ticket,
    "record_seal": _ticket,
    "record_redaction": _ticket,
    "record_verification": _ticket,
    "close_ticket": _ticket,
    # the feature flag and the on-call shift
    "set_flag": _flag,
    "log_shift_step": _shift,
    # the HTTP service's bearer tokens (domain.tokens)
    "issue_token": _token,
    "revoke_token": _token,
}
