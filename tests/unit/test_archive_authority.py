"""An archive alone replays the roster check of every event it carries."""

from __future__ import annotations

import json

from opsledger.archiver.verify.authority import authority_findings
from opsledger.domain.application import OpsLedger
from opsledger.domain.roster import roster_id
from opsledger.domain.runbook import Role
from opsledger.domain.ticket import ticket_id
from story import ADMIN, FILE_SHA, PEOPLE, approve_all, attach_all, open_ticket


def jsonl(app: OpsLedger, originator) -> bytes:
    return b"".join(
        json.dumps({"originator_id": str(s.originator_id),
                    "originator_version": s.originator_version,
                    "topic": s.topic, "state": s.state.decode()}).encode() + b"\n"
        for s in app.recorder.select_events(originator)
    )


def tag_files(app: OpsLedger, key: str, *, roster: bool = True) -> dict[str, bytes]:
    files = {"opsledger/events.jsonl": jsonl(app, ticket_id(key))}
    if roster:
        files["opsledger/roster.jsonl"] = jsonl(app, roster_id())
    return files


def session() -> tuple[OpsLedger, str]:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    key = open_ticket(app)
    attach_all(app, key)
    approve_all(app, key)
    return app, key


def test_a_clean_session_replays_without_findings():
    app, key = session()
    assert authority_findings(tag_files(app, key)) == []


def test_a_forged_signature_is_found_offline():
    app, key = session()
    ticket = app.get_ticket(key)
    ticket.attach_evidence(check="risk-envelope", path="l.yaml", sha256=FILE_SHA, size=1,
                           actor="mallory", role=Role.RISK_OFFICER,
                           roster_version=app.get_roster().version)
    app.save(ticket)
    assert authority_findings(tag_files(app, key)) == [
        f"authority: EvidenceAttached v{ticket.version} by mallory: the roster at version "
        f"{app.get_roster().version} did not grant mallory the risk-officer role"
    ]


def test_an_archive_without_its_roster_cannot_replay_the_checks():
    app, key = session()
    assert authority_findings(tag_files(app, key, roster=False)) == [
        "opsledger/roster.jsonl is missing: the events' roster checks cannot be replayed"
    ]
    # A revocation recorded after the seal does not change what the archive shows.
    files = tag_files(app, key)
    app.revoke_role(PEOPLE[Role.RISK_OFFICER], Role.RISK_OFFICER, actor=ADMIN, reason="left")
    assert authority_findings(files) == []


def test_unreadable_archived_events_are_a_finding_not_a_crash():
    app, key = session()
    files = tag_files(app, key)
    files["opsledger/roster.jsonl"] = b'{"originator_id": "x"}\n'
    (finding,) = authority_findings(files)
    assert finding.startswith("authority: the archived events cannot be read")
