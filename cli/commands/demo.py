"""`opsledger demo`: one complete, realistic live session on the embedded stores."""

from __future__ import annotations

import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from opsledger.adapters.signing_keys import create_key
from opsledger.cli.commands.sla import breach_record
from opsledger.cli.demo_tradepulse import SESSION_SECONDS, session_start
from opsledger.cli.options import file_digest
from opsledger.cli.output import note
from opsledger.domain.errors import AlreadyExists, DomainError
from opsledger.domain.runbook import CHECKS, Approval, Command, Env, Role, ShiftStep
from opsledger.domain.sla import Policy, evaluate, read_prometheus
from opsledger.services.archive_seal import seal_session
from opsledger.services.bootstrap import Services
from opsledger.services.keys import key_path
from opsledger.services.scripts import record_run

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
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m opsledger.cli.demo_tradepulse "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def _free_key(app, first: int = 2041) -> str:
    for n in range(first, first + 10000):
        key = f"CHG-{n}"
        try:
            app.get_ticket(key)
        except DomainError:
            return key
    raise click.ClickException("no free demo ticket key")


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("opsledger-demo"),
    show_default=True,
    help="Where the demo's session folder, evidence and stores go.",
)
@click.option(
    "--no-archive",
    is_flag=True,
    help="Stop after the settled session (leave archive and close to you).",
)
@click.pass_obj
def demo(obj: Services, directory: Path, no_archive: bool) -> None:
    """Run a complete live session: shift, ticket, evidence, gate, launch, halt.

    Uses the embedded stores inside --dir unless --home or
    --database-url say otherwise, and prints what it did and where it is.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if "home" not in obj.settings.model_fields_set and not obj.settings.database_url:
        obj.settings = obj.settings.model_copy(update={"home": directory / ".opsledger"})
    # The stand-in's control-plane calls run as the operator, against these stores.
    obj.environ["OPSLEDGER_HOME"] = str(obj.settings.home.resolve())
    obj.environ["OPSLEDGER_ACTOR"] = PEOPLE[Role.OPERATOR]
    if obj.settings.database_url:
        obj.environ["OPSLEDGER_DATABASE_URL"] = obj.settings.database_url
    app = obj.app
    key = _free_key(app)
    today = datetime.now(UTC).date()
    session_dir = directory / "reports" / "live" / today.isoformat()
    evidence_dir = directory / "evidence"
    tradepulse = _standin(directory / "bin")

    def say(step: str) -> None:
        click.echo(f"==> {step}")

    # Authority comes from the roster: the desk's administrator grants each role.
    say(f"roster: {ADMIN} grants the desk's roles")
    try:
        app.found_roster(administrator=ADMIN, actor=ADMIN, reason="desk set up by the demo")
    except AlreadyExists:
        pass  # a roster from an earlier run (or the desk's own) is kept
    for role, person in PEOPLE.items():
        granted = app.grant_role(person, role, actor=ADMIN, reason="the demo's rota")
        click.echo(f"    {person}: {role.value}" + ("" if granted else " (already held)"))

    # Runbook section 5: the operator accepts the shift before anything else.
    operator = PEOPLE[Role.OPERATOR]
    say(f"on-call shift of {operator} ({today})")
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
        click.echo(f"    {step.value}: logged" + ("; shift ACCEPTED" if accepted else ""))

    # Section 1: the pre-launch checklist.
    say(f"open change ticket {key} for {STRATEGY} to prod")
    try:
        app.open_ticket(
            key=key,
            strategy=STRATEGY,
            env=Env.PROD,
            artifact_digest=ARTIFACT,
            actor=PEOPLE[Role.RELEASE_MANAGER],
            role=Role.RELEASE_MANAGER,
            title=f"Promote {STRATEGY} build 7f3c to prod",
            session_date=today,
        )
    except AlreadyExists:  # pragma: no cover - _free_key raced with someone
        raise click.ClickException(f"{key} was opened meanwhile; run the demo again") from None

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
        click.echo(f"    {check_name}: evidence by {PEOPLE[role]} ({role.title})")

    say("attach evidence (six of seven for now)")
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
        click.echo(f"    {approval.value}: approved by {PEOPLE[role]}")
    decision, missing = app.evaluate_gate(key, actor=operator, role=Role.OPERATOR)
    click.echo(f"    gate: {decision.upper()} (missing: {', '.join(missing)})")
    say("the Incident Commander attaches the playbook review; gate again")
    attach("incident-playbooks", Role.INCIDENT_COMMANDER)
    decision, missing = app.evaluate_gate(key, actor=operator, role=Role.OPERATOR)
    click.echo(f"    gate: {decision.upper()}")

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
        say(f"run {command.value}")
        outcome = record_run(
            obj,
            key,
            command,
            base + args,
            reason="",
            session_dir=session_dir,
            actor=operator,
            role=Role.OPERATOR,
            notify=note,
        )
        if outcome.result.exit_code != 0:
            raise click.ClickException(f"demo {command.value} failed; see {outcome.log_path}")

    say("run settle (planned stop)")
    outcome = record_run(
        obj,
        key,
        Command.SETTLE,
        base + ["settle", "--strategy", STRATEGY],
        reason="",
        session_dir=session_dir,
        actor=operator,
        role=Role.OPERATOR,
        notify=note,
    )
    if outcome.result.exit_code != 0:
        raise click.ClickException(f"demo settle failed; see {outcome.log_path}")

    say("evaluate the session's metrics export against the SLA packet")
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
        click.echo(f"    {found.rule}: {found.detail} -> {found.escalation}")

    ticket = app.get_ticket(key)
    say("summary")
    click.echo(
        f"    ticket {key}: effective env {ticket.effective_env.value}, "
        f"settled={ticket.settled}, live.enabled={app.flag_value('live.enabled')}, "
        f"breaches={len(ticket.breaches)}, flag mismatches={len(ticket.flag_mismatches)}"
    )
    for change in app.flag_changes("live.enabled")[-2:]:
        click.echo(
            f"    live.enabled {change.old} -> {change.new} by {change.actor} "
            f"({change.reason}, {change.ticket})"
        )
    checked, findings = app.audit_authority()
    click.echo(
        f"    authority: {checked} roster-checked events replayed, "
        + (f"{len(findings)} NOT allowed" if findings else "each allowed by the roster it names")
    )
    manager = PEOPLE[Role.RELEASE_MANAGER]
    try:
        app.close_ticket(key, actor=manager, role=Role.RELEASE_MANAGER)
    except DomainError as refusal:
        click.echo(f"    close refused, as the runbook demands: {refusal.message}")
    if not no_archive:
        say("seal the session archive, verify it by re-reading, close the ticket")
        if not key_path(obj, None).exists():  # so the demo archive carries the ledger's proofs
            create_key(key_path(obj, None))
        sealed = seal_session(
            obj,
            key,
            session_dir=session_dir,
            store_uri=None,
            allow_incomplete=False,
            actor=manager,
            role=Role.RELEASE_MANAGER,
            notify=note,
        )
        click.echo(f"    archive: {sealed['location']}")
        click.echo(
            f"    sha256 {sealed['archive_sha256']} ({sealed['files']} files), "
            f"verified={sealed['verified']}"
        )
        if not sealed["verified"]:
            raise click.ClickException(f"demo archive failed verification: {sealed['findings']}")
        app.close_ticket(key, actor=manager, role=Role.RELEASE_MANAGER)
        click.echo(f"    {key} closed")
    click.echo(f"    session folder: {session_dir}")
    click.echo(f"    evidence:       {evidence_dir}")
    where = obj.settings.database_url or str(obj.settings.home)
    click.echo(f"    event store:    {where}")
    note(f"next: opsledger --home {obj.settings.home} ticket show {key}")


def register(cli: click.Group) -> None:
    cli.add_command(demo)
