"""Helpers that let tests read as runbook stories."""

from __future__ import annotations

from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import NotFound
from opsledger.domain.runbook import CHECKS, Approval, Env, Role

PEOPLE = {
    Role.RELEASE_MANAGER: "alice.rm",
    Role.RISK_OFFICER: "bob.risk",
    Role.COMPLIANCE_OFFICER: "carol.compliance",
    Role.DEV_LEAD: "dave.dev",
    Role.SRE_CAPTAIN: "erin.sre",
    Role.INCIDENT_COMMANDER: "frank.ic",
    Role.OPERATOR: "dana.ops",
    Role.EXECUTION_TRADER: "eve.trader",
}
ADMIN = "root.admin"
# Administrators are changed only by two of them: the desk is founded with two.
SECOND_ADMIN = "second.admin"
DIGEST = "sha256:" + "ab" * 32
FILE_SHA = "cd" * 32


def staff(app: OpsLedger) -> None:
    """The desk's administrator founds the roster and grants each person their role
    (once: a second call finds the roster and leaves it alone)."""
    try:
        app.get_roster()
        return
    except NotFound:
        pass
    app.found_roster(administrator=ADMIN, actor=ADMIN, reason="desk set up")
    for role, person in PEOPLE.items():
        app.grant_role(person, role, actor=ADMIN, reason="on the desk's rota")


def open_ticket(app: OpsLedger, key: str = "CHG-2041", env: Env = Env.PROD) -> str:
    staff(app)
    # the dev lead asks for the change; the release manager approves it
    app.open_ticket(key=key, strategy="momo-1", env=env, artifact_digest=DIGEST,
                    actor=PEOPLE[Role.DEV_LEAD], role=Role.DEV_LEAD)
    return key


def attach_all(app: OpsLedger, key: str, *, skip: set[str] = frozenset()) -> None:
    """Attaches every check's evidence by its owners, except the ones skipped."""
    for check in CHECKS:
        if check.name in skip:
            continue
        for role in check.owners:
            app.attach_evidence(key, check=check.name, path=f"evidence/{check.name}.md",
                                sha256=FILE_SHA, size=10, actor=PEOPLE[role], role=role)


def approve_all(app: OpsLedger, key: str) -> None:
    for approval, role in ((Approval.CHANGE_TICKET, Role.RELEASE_MANAGER),
                           (Approval.RISK_SIGNOFF, Role.RISK_OFFICER),
                           (Approval.COMPLIANCE_MEMO, Role.COMPLIANCE_OFFICER)):
        app.approve(key, approval=approval, reference="ref", actor=PEOPLE[role], role=role)


def run_session(app, key: str, *, start, end, operator: str = PEOPLE[Role.OPERATOR]) -> None:
    """The operator's deploy at `start` and settle ending at `end`, as recorded by
    `opsledger run` (a session held earlier, e.g. the one a test's Prometheus holds)."""
    from datetime import timedelta

    from opsledger.domain.runbook import Command

    for command, began in ((Command.DEPLOY, start), (Command.SETTLE, end - timedelta(minutes=1))):
        run_id, _, _ = app.start_command(
            key, command=command, argv=["tradepulse-cli", command.value], actor=operator,
            log_path=f"{command.value}.log", role=Role.OPERATOR, started_at=began)
        app.finish_command(
            key, run_id=run_id, outcome="exited", exit_code=0, log_sha256=FILE_SHA,
            log_bytes=10, actor=operator, role=Role.OPERATOR,
            finished_at=began + timedelta(minutes=1))
