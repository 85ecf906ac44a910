"""No secrets into WORM storage: a leaked key refuses the seal; --redact
archives a redacted copy and puts the alteration on the record."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import zstandard
from clirunner import invoke
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.archiver.secrets.rules import fingerprint
from opsledger.domain.application import OpsLedger
from opsledger.domain.signing import Intent, armored

AWS = "AKIAIOSFODNN7EXAMPLE"
AWS_FP = fingerprint(AWS.encode())  # keyed: no character of the key


@pytest.fixture
def session(tmp_path: Path, opsledger_exe) -> dict:
    """A settled demo session whose deploy.log leaked a key, and whose recorded
    sha256 is the leaked log's (the script wrote the key as it ran)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "d"),
                           "--no-archive"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "d" / ".opsledger"
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(home / "events.sqlite")})
    try:
        ticket = app.get_ticket("CHG-2041")
        session_dir = tmp_path / "d" / "reports" / "live" / str(ticket.session_date) / "CHG-2041"
    finally:
        app.close()
    log = session_dir / "deploy.log"
    lines = log.read_text().splitlines(keepends=True)
    lines.insert(1, f"using AWS_ACCESS_KEY_ID={AWS} for artefact upload\n")
    log.write_text("".join(lines))
    _pretend_recorded(home / "events.sqlite", "deploy.log", _sha256(log), tmp_path / "d" / "keys")
    # alice signs with her key of the demo's desk (the demo registered it in the roster)
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_ACTOR": "alice.rm",
           "OPSLEDGER_IDENTITY": str(tmp_path / "d" / "keys" / "alice.rm")}
    keys = invoke(["keys", "init"], env)  # the desk's log key: seals carry its proofs
    assert keys.code == 0, keys.err
    return {"env": env, "dir": session_dir, "home": home}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pretend_recorded(events_db: Path, name: str, sha: str, keys: Path) -> None:
    """Stands in for a script that leaked the key into its own log as it ran:
    the stored CommandFinished of the run that wrote `name` gets the leaked
    log's hash, as `opsledger run` would have recorded it - signed, as it would
    have been, by the person who ran it (their key of the demo's desk, in `keys`)."""
    db = sqlite3.connect(events_db)
    try:
        rows = db.execute("SELECT originator_id, originator_version, state FROM stored_events "
                          "WHERE topic = 'opsledger.ticket.CommandFinished'").fetchall()
        for originator, version, state in rows:
            data = json.loads(state)
            if Path(data["log_path"]).name == name:
                data["log_sha256"] = sha
                signature = data["signature"]
                intent = Intent.from_bytes(base64.b64decode(signature["signed"]))
                payload = intent.model_copy(
                    update={"args": {**intent.args, "log_sha256": sha}}).to_bytes()
                signer = FileKeySigner(keys / signature["signer"])
                signature.update(signature=armored(signer.sign(payload)),
                                 signed=base64.b64encode(payload).decode("ascii"))
                with db:
                    db.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? "
                               "AND originator_version = ?",
                               (json.dumps(data, separators=(",", ":")).encode(), originator,
                                version))
                return
    finally:
        db.close()
    raise AssertionError(f"no finished run wrote {name}")


def ol(session, *argv):
    return invoke(["--actor", "alice.rm", *argv], session["env"])


def build(session, *extra):
    return ol(session, "archive", "build", "CHG-2041", "--session-dir", str(session["dir"]),
              "--json", *extra)


def ticket_events(session) -> list:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(session["home"] / "events.sqlite")})
    try:
        return list(app.ticket_events("CHG-2041"))
    finally:
        app.close()


def bag_member(archive: Path, suffix: str) -> bytes:
    import tarfile

    raw = zstandard.ZstdDecompressor().decompressobj().decompress(archive.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith(suffix)]
        return tar.extractfile(member).read()


def test_a_leaked_key_refuses_the_seal_naming_file_line_kind_not_the_secret(session):
    before = {p.name: _sha256(p) for p in session["dir"].iterdir() if p.is_file()}
    r = build(session)
    assert r.code == 1
    assert f"deploy.log:2: aws-access-key ({AWS_FP})" in r.err
    assert AWS not in r.err and AWS not in r.out
    names = [type(e).__name__ for e in ticket_events(session)]
    assert "ArchiveSealed" not in names and "PayloadRedacted" not in names
    after = {p.name: _sha256(p) for p in session["dir"].iterdir() if p.is_file()}
    assert {n: after[n] for n in before} == before  # build only adds sla_incidents.md
    archives = session["home"] / "archives"  # the aborted build published nothing
    assert not archives.exists() or [p for p in archives.rglob("*") if p.is_file()] == []


def test_redact_seals_a_redacted_copy_and_records_the_alteration(session):
    log = session["dir"] / "deploy.log"
    original = log.read_bytes()
    original_sha = hashlib.sha256(original).hexdigest()
    r = build(session, "--redact")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["verified"] is True and doc["incomplete"] == []
    assert AWS not in r.out and AWS not in r.err

    assert log.read_bytes() == original  # the working folder is untouched
    assert not [p for p in session["dir"].parent.iterdir() if ".redacted-" in p.name]

    archive = session["home"] / "archives" / doc["name"]
    archived = bag_member(archive, "/data/deploy.log")
    assert AWS.encode() not in archived
    assert archived == original.replace(AWS.encode(), b"[REDACTED:aws-access-key]")

    events = ticket_events(session)
    names = [type(e).__name__ for e in events]
    # the seal signs what it archives (PayloadDeclared) before the bag is closed
    assert names[-4:] == ["PayloadRedacted", "PayloadDeclared", "ArchiveSealed",
                          "ArchiveVerified"]
    redacted = events[-4]
    declared = {f["path"]: f["sha256"] for f in events[-3].files}
    assert declared["deploy.log"] == hashlib.sha256(archived).hexdigest()  # the redacted copy
    assert redacted.file == "deploy.log"
    assert redacted.original_sha256 == original_sha
    assert redacted.redacted_sha256 == hashlib.sha256(archived).hexdigest()
    assert redacted.findings == [{"kind": "aws-access-key", "line": 2}]
    assert doc["redacted"] == [{"file": "deploy.log", "original_sha256": original_sha,
                                "redacted_sha256": redacted.redacted_sha256,
                                "kinds": ["aws-access-key"], "lines": [2]}]

    # the archive carries the explanation: the event and the checklist's detail
    assert b"PayloadRedacted" in bag_member(archive, "/opsledger/events.jsonl")
    checklist = json.loads(bag_member(archive, "/opsledger/checklist.json"))
    [item] = [i for i in checklist if i["item"] == "deploy.log"]
    assert item["status"] == "present" and "archived redacted" in item["detail"]

    v = ol(session, "archive", "verify", "CHG-2041", "--json")
    assert v.code == 0, v.err
    assert json.loads(v.out)["ok"] is True

    timeline = ol(session, "timeline", "CHG-2041", "--json")
    assert timeline.code == 0, timeline.err
    [line] = [e for e in json.loads(timeline.out)["events"] if e["kind"] == "PayloadRedacted"]
    assert line["summary"].startswith("deploy.log archived redacted (1 secret(s))")
    assert AWS not in timeline.out
    shown = ol(session, "ticket", "show", "CHG-2041", "--json")
    assert shown.code == 0, shown.err


def test_a_key_inside_the_compressed_log_bundle_refuses_even_with_redact(session):
    import tarfile

    log = session["dir"] / "deploy.log"  # this time the plain log is clean
    log.write_text(log.read_text().replace(f"using AWS_ACCESS_KEY_ID={AWS} for artefact upload\n",
                                           ""))
    _pretend_recorded(session["home"] / "events.sqlite", "deploy.log", _sha256(log),
                      session["home"].parent / "keys")
    [bundle] = session["dir"].glob("logs_*.tar.gz")
    with tarfile.open(bundle) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    risk = "observability/logs/risk.log"
    first, rest = members[risk].split(b"\n", 1)
    members[risk] = first + f"\nexport AWS_ACCESS_KEY_ID={AWS}\n".encode() + rest
    with tarfile.open(bundle, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    for extra in ((), ("--redact",)):
        r = build(session, *extra)
        assert r.code == 1, r.err
        assert f"{bundle.name}[{risk}]:2: aws-access-key ({AWS_FP})" in r.err
        assert "re-create the file without the secret by hand" in r.err
        assert AWS not in r.err and AWS not in r.out
    names = [type(e).__name__ for e in ticket_events(session)]
    assert "ArchiveSealed" not in names and "PayloadRedacted" not in names
    archives = session["home"] / "archives"
    assert not archives.exists() or [p for p in archives.rglob("*") if p.is_file()] == []
