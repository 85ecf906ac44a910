"""`opsledger demo`: one complete, realistic live session on the embedded stores.

The story of the runbook, told through the same use cases a desk uses:
roster, shift, ticket, evidence, gate, launch and halt through a stand-in
`tradepulse-cli`, SLA evaluation, seal, verify, close.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.signing_keys import create_key
from opsledger.adapters.ssh_signing import create_ed25519_key, openssh_verify
from opsledger.domain.errors import AlreadyExists, DomainError
from opsledger.domain.runbook import CHECKS, Approval, Command, Env, Role, ShiftStep
from opsledger.domain.sla import Policy, evaluate, read_prometheus
from opsledger.domain.sshsig import SshSigner
from opsledger.domain.use_cases.actions import ACTIONS
from opsledger.services.archive_seal import seal_session
from opsledger.services.demo_tradepulse import SESSION_SECONDS, session_start
from opsledger.services.errors import Refused
from opsledger.services.files import file_digest
from opsledger.services.keys import key_path
from opsledger.services.scripts import record_run
from opsledger.services.sessions import default_session_dir
from opsledger.services.sla import breach_record

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

Say = Callable[[str], None]


def _silent(_: str) -> None:
    pass


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
ADMIN = "desk.admin"
STRATEGY = "momo-1"
ARTIFACT = "sha256:" + "3f1c9a7e5b2d4c6a8e0f1b3d5c7a9e2f4b6d8c0a1e3f5b7d9c2a4e6f8b0d1c3e"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _standin(bin_dir: Path) -> Path:
    """`tradepulse-cli` on disk, so the recorded argv reads like the runbook's."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "tradepulse-cli"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m opsledger.services.demo_tradepulse "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def _free_key(app, first: int = 2041) -> str:
    for n in range(first, first + 10000):
        key = f"CHG-{n}"
        try:
            app.get_ticket(key)
        except DomainError:
            return key
    raise Refused("no free demo ticket key")


class _Desk:
    """The demo plays every person of the desk: each recording call is signed
    with the key of the person it names as actor, as that person would."""

    def __init__(self, services: Services, keys: dict[str, SshSigner]) -> None:
        self._services = services
        self._keys = keys

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._services.app, name)
        if name not in ACTIONS:
            return attribute

        def as_actor(*args: Any, **kwargs: Any) -> Any:
            self._services.act_as(self._keys[kwargs["actor"]])
            return attribute(*args, **kwargs)

        return as_actor


def _judge_one_approval(app: Any, key: str, folder: Path, say: Say) -> None:
    """Hands one signed approval to OpenSSH's `ssh-keygen -Y verify`, the
    independent judge, with an allowed_signers file from the roster."""
    approval = next(e for e in app.ticket_events(key) if type(e).__name__ == "ApprovalGiven")
    signature = approval.signature
    folder.mkdir(parents=True, exist_ok=True)
    signers = folder / "allowed_signers"
    signers.write_text(app.get_roster().allowed_signers())
    sig_file = folder / "approval.sig"
    sig_file.write_text(signature.signature)
    message = folder / "approval.signed"
    message.write_bytes(signature.signed_bytes())
    command, ok = openssh_verify(signers, signature.signer, sig_file, message)
    shown = " ".join(command) + f" < {message}"
    if ok is None:
        say(f"    OpenSSH not installed; to check the approval yourself: {shown}")
    else:
        say(f"    {approval.approval} approval by {signature.signer}, checked by OpenSSH: "
            f"{'Good signature' if ok else 'REFUSED'}")
        say(f"      $ {shown}")
        if not ok:
            raise Refused(f"ssh-keygen -Y verify refused the approval signed by {signature.signer}")


def _desk_keys(folder: Path) -> dict[str, SshSigner]:
    """One ed25519 key per person (no passphrase), `keys/<person>` and `.pub`."""
    return {person: create_ed25519_key(folder / person, f"{person}@opsledger-demo")
            for person in (ADMIN, *PEOPLE.values())}


def run_demo(
    services: Services,
    directory: Path,
    *,
    no_archive: bool = False,
    say: Say = _silent,
    notify: Say = _silent,
) -> None:
    """Runs the whole session; `say` gets the story (stdout), `notify` the
    notices (stderr). Uses the embedded stores inside `directory` unless the
    settings name a home or a database."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if not services.settings.home_given and not services.settings.database_url:
        services.settings = replace(services.settings, home=directory / ".opsledger")
    # The stand-in's control-plane calls run as the operator, against these stores.
    services.environ["OPSLEDGER_HOME"] = str(services.settings.home.resolve())
    services.environ["OPSLEDGER_ACTOR"] = PEOPLE[Role.OPERATOR]
    if services.settings.database_url:
        services.environ["OPSLEDGER_DATABASE_URL"] = services.settings.database_url
    services.recording()  # the demo records from its first step: it may create the store
    keys = _desk_keys(directory / "keys")
    services.environ["OPSLEDGER_IDENTITY"] = str(directory / "keys" / PEOPLE[Role.OPERATOR])
    app = _Desk(services, keys)
    key = _free_key(app)
    today = datetime.now(UTC).date()
    session_dir = directory / default_session_dir(today.isoformat(), key)
    evidence_dir = directory / "evidence"
    tradepulse = _standin(directory / "bin")

    def heading(name: str) -> None:
        say(f"==> {name}")

    # Authority comes from the roster: the desk's administrator registers each
    # person's own SSH key and grants each role; every record is signed by its author.
    heading(f"roster: {ADMIN} registers the desk's keys and grants its roles")
    try:
        app.found_roster(administrator=ADMIN, actor=ADMIN, reason="desk set up by the demo")
    except AlreadyExists:
        pass  # a roster from an earlier run (or the desk's own) is kept
    for role, person in PEOPLE.items():
        if app.get_roster().person_of_key(keys[person].fingerprint) is None:
            app.add_key(person, public_key=keys[person].public_key_line, actor=ADMIN,
                        reason="the demo's key for " + person)
        granted = app.grant_role(person, role, actor=ADMIN, reason="the demo's rota")
        say(f"    {person}: {role.value}" + ("" if granted else " (already held)")
            + f", key {keys[person].fingerprint}")

    # Runbook section 5: the operator accepts the shift before anything else.
    operator = PEOPLE[Role.OPERATOR]
    heading(f"on-call shift of {operator} ({today})")
    _write(session_dir / "todo.md", "- [ ] confirm drift alert threshold with risk\n")
    screenshot = _write(
        evidence_dir / "pagerduty-heartbeat.txt",
        "PagerDuty heartbeat test: delivered to erin.sre at 13:02Z\n",
    )
    for step in ShiftStep:
        attachment = None
        if step is ShiftStep.HEARTBEAT_TESTED:
            sha256, size = file_digest(screenshot)
            attachment = (str(screenshot), sha256, size)
        accepted, missing = app.log_shift_step(
            operator=operator,
            day=today,
            step=step,
            actor=operator,
            note=step.title,
            ticket=None,
            attachment=attachment,
        )
        say(f"    {step.value}: logged" + ("; shift ACCEPTED" if accepted else ""))

    # Section 1: the pre-launch checklist.
    heading(f"open change ticket {key} for {STRATEGY} to prod")
    try:
        app.open_ticket(
            key=key,
            strategy=STRATEGY,
            env=Env.PROD,
            artifact_digest=ARTIFACT,
            actor=PEOPLE[Role.DEV_LEAD],
            role=Role.DEV_LEAD,
            title=f"Promote {STRATEGY} build 7f3c to prod",
            session_date=today,
        )
    except AlreadyExists:  # pragma: no cover - _free_key raced with someone
        raise Refused(f"{key} was opened meanwhile; run the demo again") from None

    def attach(check_name: str, role: Role) -> None:
        spec = next(c for c in CHECKS if c.name == check_name)
        path = _write(
            evidence_dir / check_name / f"{role.value}.md",
            f"# {spec.title}\n\nTicket {key}, signed by {PEOPLE[role]} ({role.title}).\n",
        )
        sha256, size = file_digest(path)
        app.attach_evidence(
            key,
            check=check_name,
            path=str(path),
            sha256=sha256,
            size=size,
            actor=PEOPLE[role],
            role=role,
        )
        say(f"    {check_name}: evidence by {PEOPLE[role]} ({role.title})")

    heading("attach evidence (six of seven for now)")
    for check in CHECKS:
        if check.name == "incident-playbooks":
            continue
        for role in check.owners:
            attach(check.name, role)
    for approval, role in (
        (Approval.CHANGE_TICKET, Role.RELEASE_MANAGER),
        (Approval.RISK_SIGNOFF, Role.RISK_OFFICER),
        (Approval.COMPLIANCE_MEMO, Role.COMPLIANCE_OFFICER),
    ):
        app.approve(
            key,
            approval=approval,
            reference=f"{approval.value}/{key}",
            actor=PEOPLE[role],
            role=role,
        )
        say(f"    {approval.value}: approved by {PEOPLE[role]}")
    decision, missing = app.evaluate_gate(key, actor=operator, role=Role.OPERATOR)
    say(f"    gate: {decision.upper()} (missing: {', '.join(missing)})")
    heading("the Incident Commander attaches the playbook review; gate again")
    attach("incident-playbooks", Role.INCIDENT_COMMANDER)
    decision, missing = app.evaluate_gate(key, actor=operator, role=Role.OPERATOR)
    say(f"    gate: {decision.upper()}")

    # Section 2: launch, SLA watch, planned stop.
    base = [str(tradepulse)]
    runs = [
        (
            Command.DEPLOY,
            ["deploy", "--env", "prod", "--strategy", STRATEGY, "--artifact", ARTIFACT],
        ),
        (
            Command.VALIDATE,
            [
                "validate",
                "--env",
                "prod",
                "--strategy",
                STRATEGY,
                "--window",
                "15m",
                "--mode",
                "dry-run",
            ],
        ),
    ]
    for command, args in runs:
        heading(f"run {command.value}")
        services.act_as(keys[operator])
        outcome = record_run(
            services,
            key,
            command,
            base + args,
            reason="",
            session_dir=session_dir,
            actor=operator,
            role=Role.OPERATOR,
            notify=notify,
        )
        if outcome.result.exit_code != 0:
            raise Refused(f"demo {command.value} failed; see {outcome.log_path}")

    heading("run settle (planned stop)")
    services.act_as(keys[operator])
    outcome = record_run(
        services,
        key,
        Command.SETTLE,
        base + ["settle", "--strategy", STRATEGY],
        reason="",
        session_dir=session_dir,
        actor=operator,
        role=Role.OPERATOR,
        notify=notify,
    )
    if outcome.result.exit_code != 0:
        raise Refused(f"demo settle failed; see {outcome.log_path}")

    heading("evaluate the session's metrics export against the SLA packet")
    start = session_start(today)
    series = [
        s
        for path in sorted(session_dir.glob("metrics_*.json.gz"))
        for s in read_prometheus(path.read_bytes(), str(path))
    ]
    evaluation = evaluate(
        Policy(), series, since=start, until=start + timedelta(seconds=SESSION_SECONDS)
    )
    app.record_breaches(
        key,
        breaches=[breach_record(b, "INC-7731") for b in evaluation.breaches],
        actor=operator,
        role=Role.OPERATOR,
    )
    for found in evaluation.breaches:
        say(f"    {found.rule}: {found.detail} -> {found.escalation}")

    ticket = app.get_ticket(key)
    heading("summary")
    say(
        f"    ticket {key}: effective env {ticket.effective_env.value}, "
        f"settled={ticket.settled}, live.enabled={app.flag_value('live.enabled')}, "
        f"breaches={len(ticket.breaches)}, flag mismatches={len(ticket.flag_mismatches)}"
    )
    for change in app.flag_changes("live.enabled")[-2:]:
        say(
            f"    live.enabled {change.old} -> {change.new} by {change.actor} "
            f"({change.reason}, {change.ticket})"
        )
    checked, findings = app.audit_authority()
    say(
        f"    authority: {checked} roster-checked events replayed, "
        + (f"{len(findings)} NOT allowed" if findings else "each allowed by the roster it names")
    )
    _judge_one_approval(app, key, directory / "verify", say)
    manager = PEOPLE[Role.RELEASE_MANAGER]
    try:
        app.close_ticket(key, actor=manager, role=Role.RELEASE_MANAGER)
    except DomainError as refusal:
        say(f"    close refused, as the runbook demands: {refusal.message}")
    if not no_archive:
        heading("seal the session archive, verify it by re-reading, close the ticket")
        if not key_path(services, None).exists():  # so the demo archive carries the ledger's proofs
            create_key(key_path(services, None))
        services.act_as(keys[manager])
        sealed = seal_session(
            services,
            key,
            session_dir=session_dir,
            store_uri=None,
            allow_incomplete=False,
            actor=manager,
            role=Role.RELEASE_MANAGER,
            notify=notify,
        )
        say(f"    archive: {sealed['location']}")
        say(
            f"    sha256 {sealed['archive_sha256']} ({sealed['files']} files), "
            f"verified={sealed['verified']}"
        )
        if not sealed["verified"]:
            raise Refused(f"demo archive failed verification: {sealed['findings']}")
        app.close_ticket(key, actor=manager, role=Role.RELEASE_MANAGER)
        say(f"    {key} closed")
    say(f"    session folder: {session_dir}")
    say(f"    evidence:       {evidence_dir}")
    where = services.settings.database_url or str(services.settings.home)
    say(f"    event store:    {where}")
    notify(f"next: opsledger --home {services.settings.home} ticket show {key}")
