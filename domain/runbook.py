"""The desk's runbook (shared/RUNBOOK.md) as data: roles, checks, commands, steps.

Everything the rules in the aggregates refer to is named here once, so that a
reader can hold this module next to the runbook and tick off each line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    RELEASE_MANAGER = "release-manager"
    RISK_OFFICER = "risk-officer"
    COMPLIANCE_OFFICER = "compliance-officer"
    DEV_LEAD = "dev-lead"
    SRE_CAPTAIN = "sre-captain"
    INCIDENT_COMMANDER = "incident-commander"
    EXECUTION_TRADER = "execution-trader"
    OPERATOR = "operator"
    # Not runbook roles: opsledger's own. The administrator keeps the roster;
    # auditors and engineers read (and auditors record verifications).
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"
    ENGINEER = "engineer"
    # The HTTP service's Alertmanager intake (its sender and its signing key):
    # records SLA breaches and nothing else, so that a stolen intake key or
    # token cannot set live.enabled, kill a session or sign a checkpoint.
    ALERT_RECEIVER = "alert-receiver"

    @property
    def title(self) -> str:
        return self.value.replace("-", " ").title().replace("Sre ", "SRE ")


def either(roles: tuple[Role, ...]) -> str:
    """"the Operator, Release Manager or SRE Captain": roles as a refusal names them."""
    titles = [r.title for r in roles]
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} or {titles[-1]}"


class Env(StrEnum):
    PROD = "prod"
    STAGING = "staging"


@dataclass(frozen=True)
class Check:
    """One row of the pre-launch control checklist (runbook section 1)."""

    name: str
    title: str
    owners: tuple[Role, ...]
    evidence: str
    # The production cutover gate is signed by Release Manager *and* Risk:
    # every owner role must attach, each by a different person.
    all_owners_required: bool = False


CHECKS: tuple[Check, ...] = (
    Check(
        "approvals",
        "Approvals confirmed (change ticket, risk sign-off, compliance memo)",
        (Role.RELEASE_MANAGER,),
        "reports/change_manifest/<ticket>.md",
    ),
    Check(
        "release-readiness",
        "Release readiness pack reviewed",
        (Role.RELEASE_MANAGER,),
        "reports/release_readiness.md",
    ),
    Check(
        "prod-cutover",
        "Production cutover gate signed",
        (Role.RELEASE_MANAGER, Role.RISK_OFFICER),
        "reports/prod_cutover_readiness_checklist.md",
        all_owners_required=True,
    ),
    Check(
        "health-gate",
        "Health gate: CI + performance jobs green",
        (Role.DEV_LEAD,),
        "TESTING_SUMMARY.md exports",
    ),
    Check(
        "risk-envelope",
        "Risk envelope verified",
        (Role.RISK_OFFICER,),
        "configs/risk/limits.yaml diff",
    ),
    Check(
        "oncall-rotation",
        "On-call rotation confirmed",
        (Role.SRE_CAPTAIN,),
        "docs/reliability.md roster",
    ),
    Check(
        "incident-playbooks",
        "Incident playbooks up to date",
        (Role.INCIDENT_COMMANDER,),
        "docs/incident_playbooks.md review timestamp",
    ),
)
CHECKS_BY_NAME = {c.name: c for c in CHECKS}


def gate_gaps(
    current: Mapping[str, Iterable[tuple[str, str]]], approvals: Iterable[str]
) -> list[str]:
    """The Go/No-Go rule: what keeps a ticket from prod, one line per gap, in
    runbook order. `current` maps a check to the (role, actor) pairs of its
    evidence still standing; `approvals` names the approvals given. The
    aggregate and the tickets view both ask this one function."""
    given = set(approvals)
    missing: list[str] = []
    for spec in CHECKS:
        standing = list(current.get(spec.name, ()))
        if spec.all_owners_required:
            signers: dict[str, set[str]] = {}
            for role, actor in standing:
                signers.setdefault(str(role), set()).add(actor)
            lacking = [r for r in spec.owners if not signers.get(r.value)]
            people = set().union(*signers.values()) if signers else set()
            if lacking:
                missing.append(f"{spec.name} (signature of {', '.join(r.title for r in lacking)})")
            elif len(people) < len(spec.owners):
                missing.append(f"{spec.name} (needs {len(spec.owners)} distinct people)")
        elif not standing:
            missing.append(spec.name)
        if spec.name == "approvals" and standing:
            lacking_approvals = [a.value for a in Approval if a.value not in given]
            if lacking_approvals:
                missing.append(f"approvals ({', '.join(lacking_approvals)})")
    return missing


class Approval(StrEnum):
    CHANGE_TICKET = "change-ticket"
    RISK_SIGNOFF = "risk-signoff"
    COMPLIANCE_MEMO = "compliance-memo"


APPROVERS: dict[Approval, Role] = {
    Approval.CHANGE_TICKET: Role.RELEASE_MANAGER,
    Approval.RISK_SIGNOFF: Role.RISK_OFFICER,
    Approval.COMPLIANCE_MEMO: Role.COMPLIANCE_OFFICER,
}


class Command(StrEnum):
    """Launch and halt scripts (runbook section 2)."""

    DEPLOY = "deploy"
    VALIDATE = "validate"
    SETTLE = "settle"
    KILL = "kill"

    @property
    def log_name(self) -> str:
        """The runbook's name for the script's log (`validation.log`, not validate)."""
        return "validation" if self is Command.VALIDATE else self.value

    @property
    def intended_live(self) -> bool | None:
        """What `live.enabled` must read once the script has finished.

        None means the script does not move the flag (validate is a dry-run).
        """
        return {"deploy": True, "settle": False, "kill": False}.get(self.value)


# Who may run each script. The runbook names no owner for them; these follow
# its escalation paths: the on-call operator runs the session, the Release
# Manager owns the release, the Execution Trader is escalated to on latency,
# and a halt may come from anyone the SLA packet escalates to.
COMMAND_AUTHORITY: dict[Command, tuple[Role, ...]] = {
    Command.DEPLOY: (Role.OPERATOR, Role.RELEASE_MANAGER),
    Command.VALIDATE: (Role.OPERATOR, Role.RELEASE_MANAGER, Role.EXECUTION_TRADER),
    Command.SETTLE: (Role.OPERATOR, Role.EXECUTION_TRADER, Role.RELEASE_MANAGER),
    Command.KILL: (
        Role.OPERATOR,
        Role.EXECUTION_TRADER,
        Role.RISK_OFFICER,
        Role.INCIDENT_COMMANDER,
        Role.SRE_CAPTAIN,
    ),
}

# Who may record what, beyond the checks and scripts above (evidence by the
# check's owners, approvals by APPROVERS, scripts by COMMAND_AUTHORITY). Each
# is asked of the roster at the moment the signed command is recorded; the
# README's authority table is this mapping.
ACTION_AUTHORITY: dict[str, tuple[Role, ...]] = {
    # Whoever opens a change may not approve it (domain.ticket.evidence).
    "open_ticket": (Role.DEV_LEAD, Role.RELEASE_MANAGER, Role.OPERATOR),
    "evaluate_gate": (Role.RELEASE_MANAGER, Role.OPERATOR, Role.RISK_OFFICER),
    "set_flag": (
        Role.OPERATOR,
        Role.RELEASE_MANAGER,
        Role.EXECUTION_TRADER,
        Role.RISK_OFFICER,
        Role.INCIDENT_COMMANDER,
        Role.SRE_CAPTAIN,
    ),
    "log_shift_step": (Role.OPERATOR, Role.SRE_CAPTAIN, Role.EXECUTION_TRADER),
    "record_breach": (
        Role.OPERATOR,
        Role.RELEASE_MANAGER,
        Role.SRE_CAPTAIN,
        Role.EXECUTION_TRADER,
        Role.RISK_OFFICER,
        Role.INCIDENT_COMMANDER,
        Role.ALERT_RECEIVER,
    ),
    "record_seal": (Role.RELEASE_MANAGER, Role.OPERATOR),
    "record_verification": (Role.RELEASE_MANAGER, Role.OPERATOR, Role.AUDITOR),
    "close_ticket": (Role.RELEASE_MANAGER,),
    "ledger_checkpoint": (Role.ADMINISTRATOR, Role.SRE_CAPTAIN, Role.RELEASE_MANAGER),
    # The HTTP service's bearer tokens (domain.tokens), never to oneself.
    "issue_token": (Role.ADMINISTRATOR,),
    "revoke_token": (Role.ADMINISTRATOR,),
}

LIVE_FLAG = "live.enabled"
# A run's recorded detail says this when not all of the script's output reached
# its log (a full disk): its digest is of the bytes that did.
INCOMPLETE_LOG = "the log is incomplete"


class ShiftStep(StrEnum):
    """On-call start-of-shift checklist (runbook section 5), in order."""

    TODO_REVIEWED = "todo-reviewed"
    SCHEDULE_CONFIRMED = "schedule-confirmed"
    HEARTBEAT_TESTED = "heartbeat-tested"
    COMMS_WALKED = "comms-walked"

    @property
    def title(self) -> str:
        return {
            "todo-reviewed": "Reviewed open action items in todo.md",
            "schedule-confirmed": "PagerDuty schedules match the reliability roster",
            "heartbeat-tested": "PagerDuty heartbeat test triggered (screenshot attached)",
            "comms-walked": "Walked through the communications plan",
        }[self.value]


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"
    PAGE = "page"
