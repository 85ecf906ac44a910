"""Evidence and approvals (runbook section 1): who may attach, supersede and
approve, and what still keeps a ticket from prod.

Each rule is a function over the ticket's recorded state that raises a named
`DomainError`; the aggregate calls them before it records anything. The
functions that take the ticket itself answer with what to record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from uuid import uuid4

from opsledger.domain.errors import (
    EvidenceNotFound,
    InvalidInput,
    ReasonRequired,
    SameSigner,
    SelfApproval,
    WrongRole,
)
from opsledger.domain.runbook import (
    APPROVERS,
    CHECKS,
    CHECKS_BY_NAME,
    Approval,
    Check,
    Role,
    gate_gaps,
)
from opsledger.domain.ticket.inputs import SHA256_HEX, validate_text

Evidence = Mapping[str, dict[str, Any]]  # evidence_id -> record, as the ticket holds it


class TicketEvidence(Protocol):
    """The part of a ticket's state these rules read."""

    key: str
    opened_by: str
    evidence: dict[str, dict[str, Any]]
    approvals: dict[Approval, dict[str, Any]]


def check_spec(key: str, check: str) -> Check:
    spec = CHECKS_BY_NAME.get(check)
    if spec is None:
        names = ", ".join(c.name for c in CHECKS)
        raise InvalidInput(key, f"unknown check {check!r} (one of: {names})")
    return spec


def current_evidence(evidence: Evidence, check: str) -> list[dict[str, Any]]:
    return [e for e in evidence.values() if e["check"] == check and e["superseded"] is None]


def require_attachable(
    key: str,
    spec: Check,
    evidence: Evidence,
    *,
    sha256: str,
    size: int,
    path: str,
    actor: str,
    role: Role,
) -> None:
    """Only the check's owner role attaches its evidence; the production
    cutover gate needs its owners to be distinct people."""
    if role not in spec.owners:
        owners = " or ".join(r.title for r in spec.owners)
        raise WrongRole(
            key, f"evidence for {spec.name!r} is attached by the {owners}, not the {role.title}"
        )
    if not SHA256_HEX.fullmatch(sha256) or size < 0:
        raise InvalidInput(key, "evidence needs a sha256 hex digest and a size")
    validate_text(key, "evidence path", path)
    if spec.all_owners_required:
        for record in current_evidence(evidence, spec.name):
            if record["actor"] == actor and record["role"] != role:
                raise SameSigner(
                    key,
                    f"{actor} already signed {spec.name!r} as {record['role'].title}; "
                    "the production cutover gate needs two distinct people",
                )


def attachment(
    ticket: TicketEvidence,
    *,
    check: str,
    path: str,
    sha256: str,
    size: int,
    actor: str,
    role: Role,
) -> dict[str, Any]:
    """The evidence to attach, under a new evidence id, once `check` is known
    and `require_attachable` allows it."""
    key = ticket.key
    spec = check_spec(key, check)
    require_attachable(
        key, spec, ticket.evidence, sha256=sha256, size=size, path=path, actor=actor, role=role
    )
    record = {"check": check, "path": path, "sha256": sha256, "size": size}
    return {"evidence_id": uuid4().hex[:12], **record, "actor": actor, "role": role}


def evidence_check(key: str, evidence: Evidence, evidence_id: str) -> str:
    """The check a piece of current evidence was attached for (its owners may supersede it)."""
    record = evidence.get(evidence_id)
    if record is None or record["superseded"] is not None:
        raise EvidenceNotFound(key, f"no current evidence with id {evidence_id!r}")
    return record["check"]


def require_supersedable(key: str, check: str, *, reason: str, role: Role) -> None:
    """A correction names its reason and comes from one of the check's owners."""
    if not reason.strip():
        raise ReasonRequired(key, "superseding evidence needs a reason")
    validate_text(key, "reason", reason)
    owners = CHECKS_BY_NAME[check].owners
    if role not in owners:
        names = " or ".join(r.title for r in owners)
        raise WrongRole(key, f"evidence for {check!r} is superseded by the {names}")


def supersession(
    ticket: TicketEvidence, evidence_id: str, *, reason: str, role: Role
) -> dict[str, Any]:
    """The correction to record, once the evidence is current and
    `require_supersedable` allows it."""
    check = evidence_check(ticket.key, ticket.evidence, evidence_id)
    require_supersedable(ticket.key, check, reason=reason, role=role)
    return {"evidence_id": evidence_id, "reason": reason}


def require_approver(key: str, approval: Approval, *, reference: str, role: Role) -> None:
    needed = APPROVERS[approval]
    if role != needed:
        raise WrongRole(key, f"the {approval.value} approval is given by the {needed.title}")
    validate_text(key, "reference", reference, limit=500)


def approval_given(
    ticket: TicketEvidence, approval: Approval, *, reference: str, role: Role, actor: str
) -> dict[str, Any]:
    """The approval to record, once `require_approver` allows it.

    Separation of duties: whoever opened the change ticket cannot approve it
    (a second Release Manager does); risk and compliance approve their own."""
    require_approver(ticket.key, approval, reference=reference, role=role)
    if approval is Approval.CHANGE_TICKET and actor == ticket.opened_by:
        raise SelfApproval(
            ticket.key, f"{actor} opened this change ticket and cannot approve it; "
            "another Release Manager gives the change-ticket approval"
        )
    return {"approval": approval, "reference": reference}


def missing_checks(evidence: Evidence, approvals: Iterable[Approval]) -> list[str]:
    """What keeps a ticket from prod, one line per gap, in runbook order."""
    current: dict[str, list[tuple[str, str]]] = {}
    for record in evidence.values():
        if record["superseded"] is None:
            current.setdefault(record["check"], []).append((record["role"].value, record["actor"]))
    return gate_gaps(current, (a.value for a in approvals))


def gate(ticket: TicketEvidence) -> dict[str, Any]:
    """The Go/No-Go decision to record: go when nothing keeps the ticket from prod."""
    missing = missing_checks(ticket.evidence, ticket.approvals)
    return {"decision": "go" if not missing else "no-go", "missing": missing}
