"""`opsledger evidence attach|supersede|checks` and `opsledger approve`."""

from __future__ import annotations

from pathlib import Path

import click
from opsledger.cli.options import (
    actor_of,
    actor_option,
    existing_file,
    json_option,
    redact_option,
    role_option,
)
from opsledger.cli.output import emit, table
from opsledger.domain.runbook import CHECKS, Approval, Role
from opsledger.services.records import (
    approve,
    attach_evidence,
    pre_launch_checks,
    supersede_evidence,
)


@click.group("evidence")
def evidence_group() -> None:
    """Attach the pre-launch checklist's evidence (runbook section 1)."""


@evidence_group.command("attach")
@click.argument("key")
@click.argument("check", type=click.Choice([c.name for c in CHECKS]))
@click.argument("file", type=existing_file)
@role_option()
@actor_option
@redact_option
@json_option
@click.pass_obj
def attach_cmd(
    obj,
    key: str,
    check: str,
    file: Path,
    role: Role | None,
    actor_override: str | None,
    json_output: bool,
) -> None:
    """Attach FILE as evidence for CHECK on ticket KEY.

    The file's SHA-256 and size are taken now and recorded, so a later change
    to the file is visible.
    """
    document = attach_evidence(
        obj, key, check=check, file=file, actor=actor_of(obj, actor_override), role=role
    )
    emit(
        document,
        json_output=json_output,
        human=lambda: (
            f"{key}: {check} evidence {document['evidence_id']} attached "
            f"({file}, sha256 {document['sha256'][:12]}…)"
        ),
    )


@evidence_group.command("supersede")
@click.argument("key")
@click.argument("evidence_id")
@click.option("--reason", required=True, help="Why the earlier evidence no longer stands.")
@role_option()
@actor_option
@redact_option
@click.pass_obj
def supersede_cmd(
    obj, key: str, evidence_id: str, reason: str, role: Role | None, actor_override: str | None
) -> None:
    """Mark evidence EVIDENCE_ID as superseded (nothing is deleted)."""
    supersede_evidence(
        obj, key, evidence_id=evidence_id, reason=reason, actor=actor_of(obj, actor_override), role=role
    )
    click.echo(f"{key}: evidence {evidence_id} superseded")


@evidence_group.command("checks")
@json_option
def checks(json_output: bool) -> None:
    """List the seven pre-launch checks, their owners and expected evidence."""
    rows = pre_launch_checks()
    emit(
        rows,
        json_output=json_output,
        human=lambda: table(
            [(r["check"], " + ".join(r["owners"]), r["evidence"]) for r in rows],
            ["CHECK", "OWNER", "EVIDENCE"],
        ),
    )


@click.command("approve")
@click.argument("key")
@click.argument("approval", type=click.Choice([a.value for a in Approval]))
@click.option("--reference", default="", help="Memo or sign-off reference.")
@role_option()
@actor_option
@redact_option
@click.pass_obj
def approve_cmd(
    obj, key: str, approval: str, reference: str, role: Role | None, actor_override: str | None
) -> None:
    """Record APPROVAL on ticket KEY: change-ticket (Release Manager),
    risk-signoff (Risk Officer) or compliance-memo (Compliance Officer)."""
    approver = approve(
        obj,
        key,
        approval=Approval(approval),
        reference=reference,
        actor=actor_of(obj, actor_override),
        role=role,
    )
    click.echo(f"{key}: {approval} approved by the {approver.title}")


def register(cli: click.Group) -> None:
    cli.add_command(evidence_group)
    cli.add_command(approve_cmd)
