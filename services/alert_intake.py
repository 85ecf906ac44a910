"""Alertmanager's webhook, received (issue 16, item 4): one notification's body in,
the breaches it records out; `POST /api/v1/alertmanager` calls this, as `sla alerts`
calls the file path of the same implementation (services.sla.record_alert_list).

Each alert goes to one ticket: the one its `change_ticket` label names, else the
one whose session was live at the alert's `startsAt` (a deploy recorded, and no
settle or kill that ended before it: domain.ticket.runs.session_windows). An
alert that maps to no ticket, or to several live at once, is reported unmatched
with the reason; it does not fail the rest of the notification.

Alertmanager retries a notification until it is answered 2xx and resends firing
alerts every `repeat_interval`: both fold into the breach already recorded (same
rule, labels and `startsAt`), so the same notification twice records nothing
new, and a resolved one records the end once.

Recording is signed, by whoever `services.identity` is: the service account
whose key the server runs with. The roster must grant it a role that may record
a breach (runbook.ACTION_AUTHORITY["record_breach"]).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.errors import InvalidInput, NotAuthorised, NotFound, TicketClosedError
from opsledger.domain.runbook import ACTION_AUTHORITY, Role
from opsledger.domain.sla import Alert, read_alertmanager
from opsledger.domain.sla.errors import SlaError
from opsledger.domain.ticket import validate_key
from opsledger.domain.ticket.runs import session_windows
from opsledger.services.errors import Incomplete, InvalidRequest
from opsledger.services.sla import record_alert_list
from opsledger.services.tokens import Forbidden

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

MAX_BODY = 1 << 20  # a notification of a few hundred alerts is ~300 KiB
TICKET_LABEL = "change_ticket"
SOURCE = "alertmanager webhook"
Windows = dict[str, list[tuple[datetime, datetime | None]]]


def receive_alertmanager(
    services: Services,
    body: bytes,
    *,
    policy_path: Path | None = None,
    incident_ref: str = "",
    actor: str | None = None,
    role: Role | None = None,
    max_bytes: int = MAX_BODY,
) -> dict[str, Any]:
    """Records one webhook notification (version "4"); the document says, per
    ticket, what was new, ended or seen before, and which alerts went nowhere.

    InvalidRequest: a body over `max_bytes`, or not an Alertmanager notification;
    nothing is recorded then."""
    if len(body) > max_bytes:
        raise InvalidRequest(f"the notification is {len(body)} bytes, over the cap of "
                             f"{max_bytes}; nothing recorded")
    try:
        alerts = read_alertmanager(body, SOURCE)
    except SlaError as e:
        raise InvalidRequest(f"not an Alertmanager notification: {e}") from None
    groups: dict[str, list[Alert]] = {}
    unmatched: list[dict[str, Any]] = []
    windows: Windows | None = None
    for alert in alerts:
        labelled = dict(alert.labels).get(TICKET_LABEL)
        if labelled is not None:
            key, why = _labelled(services, labelled)
        else:
            windows = windows if windows is not None else _session_windows(services)
            key, why = _live(windows, alert.starts_at)
        if key is None:
            unmatched.append(_described(alert, why))
        else:
            groups.setdefault(key, []).append(alert)
    tickets: dict[str, Any] = {}
    refused: list[dict[str, str]] = []
    for key, group in groups.items():
        try:
            tickets[key] = _summary(record_alert_list(
                services, key, group, policy_path=policy_path, allow_unmatched=True,
                incident_ref=incident_ref, actor=actor, role=role))
        except TicketClosedError as e:
            refused.append({"ticket": key, "reason": str(e), "alerts": str(len(group))})
    totals = {k: sum(t[k] for t in tickets.values()) for k in ("new", "ended", "already_recorded")}
    return {"alerts": len(alerts), **totals, "tickets": tickets, "unmatched": unmatched,
            "refused": refused}


def receive_from(services: Services, sender: str, sender_roles: frozenset[str], body: bytes,
                 **options: Any) -> dict[str, Any]:
    """The webhook as the HTTP door hands it over, from `sender` (the token's holder,
    usually the `alertmanager` service account, which holds no key).

    Two names answer for what is recorded: the sender must hold a role that may
    record a breach (revoking it stops the intake at once), and the breach is
    signed by the server's own key (`opsledger --identity KEY serve`), whose
    roster holder must hold one too (checked as it records).
    Forbidden: the sender holds no such role. Incomplete: the server has no key
    to sign with (a 503, so that Alertmanager retries once the server is fixed)."""
    allowed = {r.value for r in ACTION_AUTHORITY["record_breach"]}
    if not sender_roles & allowed:
        raise Forbidden(f"{sender} holds no role that may record a breach "
                        f"({', '.join(sorted(allowed))})")
    try:
        services.identity  # noqa: B018 - resolved now, so a server without a key says so first
    except NotAuthorised:
        raise Incomplete("the server has no key to sign with: start it as "
                         "`opsledger --identity KEY serve`") from None
    return receive_alertmanager(services, body, **options) | {"sender": sender}


def _labelled(services: Services, key: str) -> tuple[str | None, str]:
    try:
        validate_key(key)
        services.app.get_ticket(key)
    except InvalidInput:
        return None, f'{TICKET_LABEL}="{key[:40]}" is not a ticket key'
    except NotFound:
        return None, f'{TICKET_LABEL}="{key}" names no ticket'
    return key, ""


def _session_windows(services: Services) -> Windows:
    """Every ticket's session windows, read once per notification."""
    found: Windows = {}
    for key in services.app.ticket_keys():  # closed ones too: their refusal is reported
        found[key] = session_windows(services.app.get_ticket(key).commands)
    return found


def _live(windows: Windows, moment: datetime) -> tuple[str | None, str]:
    live = [key for key, spans in windows.items()
            if any(start <= moment and (end is None or moment <= end) for start, end in spans)]
    if len(live) == 1:
        return live[0], ""
    when = moment.isoformat().replace("+00:00", "Z")
    if not live:
        return None, (f"no {TICKET_LABEL} label, and no session was live at its startsAt "
                      f"{when}")
    return None, (f"no {TICKET_LABEL} label, and the sessions of {', '.join(sorted(live))} "
                  f"were all live at its startsAt {when}")


def _described(alert: Alert, why: str) -> dict[str, Any]:
    return {"alertname": alert.alertname, "status": alert.status,
            "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at.isoformat().replace("+00:00", "Z"), "reason": why}


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    keep = ("new", "ended", "already_recorded", "breaches", "unmatched_alerts",
            "matched_alerts")
    return {k: document[k] for k in keep}

