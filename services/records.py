"""The pre-launch record of a ticket: evidence for the checklist, the three
approvals, and the Go/No-Go gate evaluated over them (runbook section 1)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.domain.runbook import APPROVERS, CHECKS, Approval, Role
from opsledger.services.files import file_digest

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


def attach_evidence(
    services: Services, key: str, *, check: str, file: Path, actor: str, role: Role | None
) -> dict[str, Any]:
    """Attaches `file` as evidence for `check` on ticket `key`.

    The file's SHA-256 and size are taken now and recorded, so a later change
    to the file is visible."""
    sha256, size = file_digest(file)
    evidence_id = services.app.attach_evidence(
        key,
        check=check,
        path=str(file),
        sha256=sha256,
        size=size,
        actor=actor,
        role=role,
    )
    return {
        "ticket": key,
        "check": check,
        "evidence_id": evidence_id,
        "path": str(file),
        "sha256": sha256,
        "size": size,
    }


def supersede_evidence(
    services: Services, key: str, *, evidence_id: str, reason: str, actor: str, role: Role | None
) -> None:
    """Marks evidence `evidence_id` as superseded (nothing is deleted)."""
    services.app.supersede_evidence(
        key, evidence_id=evidence_id, reason=reason, actor=actor, role=role
    )


def pre_launch_checks() -> list[dict[str, Any]]:
    """The seven pre-launch checks, their owners and expected evidence."""
    return [
        {
            "check": c.name,
            "title": c.title,
            "owners": [r.value for r in c.owners],
            "evidence": c.evidence,
            "distinct_signers": c.all_owners_required,
        }
        for c in CHECKS
    ]


def approve(
    services: Services,
    key: str,
    *,
    approval: Approval,
    reference: str,
    actor: str,
    role: Role | None,
) -> Role:
    """Records `approval` on ticket `key`; returns the role that approves it."""
    services.app.approve(key, approval=approval, reference=reference, actor=actor, role=role)
    return APPROVERS[approval]


def evaluate_gate(services: Services, key: str, *, actor: str, role: Role | None) -> dict[str, Any]:
    """Evaluates the Go/No-Go rule for ticket `key` and records the decision;
    `missing` lists every pre-launch artefact lacking (empty: go)."""
    decision, missing = services.app.evaluate_gate(key, actor=actor, role=role)
    return {"ticket": key, "decision": decision, "missing": missing}
