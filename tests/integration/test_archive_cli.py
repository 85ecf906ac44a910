"""`opsledger archive`: seal, verify, refuse, and close only with a verified archive."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirunner import invoke
from opsledger.domain.application import OpsLedger


@pytest.fixture
def session(tmp_path: Path, opsledger_exe) -> dict:
    """A settled demo session; the demo itself is told not to archive it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "d"),
                           "--no-archive"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "d" / ".opsledger"
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(home / "events.sqlite")})
    ticket = app.get_ticket("CHG-2041")
    session_dir = tmp_path / "d" / "reports" / "live" / str(ticket.session_date) / "CHG-2041"
    app.close()
    # alice signs with her key of the demo's desk (the demo registered it in the roster)
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_ACTOR": "alice.rm",
           "OPSLEDGER_IDENTITY": str(tmp_path / "d" / "keys" / "alice.rm")}
    # the desk's log key: seals carry its proofs; an auditor verifies them with its public half
    keys = invoke(["keys", "init"], env)
    assert keys.code == 0, keys.err
    public = tmp_path / "ledger.pub"
    public.write_text(keys.out)
    return {"env": env, "dir": session_dir, "home": home, "public": str(public)}


def ol(session, *argv):
    return invoke(["--actor", "alice.rm", *argv], session["env"])


def events(session) -> list[str]:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(session["home"] / "events.sqlite")})
    try:
        return [type(e).__name__ for e in app.ticket_events("CHG-2041")]
    finally:
        app.close()


def build(session, *extra):
    return ol(session, "archive", "build", "CHG-2041", "--session-dir", str(session["dir"]),
              "--json", *extra)


def test_seal_verify_and_close(session):
    r = build(session)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["verified"] is True and doc["findings"] == [] and doc["incomplete"] == []
    assert doc["name"] == f"CHG-2041-{session['dir'].parent.name}.tar.zst"
    kinds = events(session)
    assert kinds[-2:] == ["ArchiveSealed", "ArchiveVerified"]
    archive = Path(doc["location"].removeprefix("file://"))
    assert archive.is_file() and Path(str(archive) + ".manifest").is_file()
    # the seal published its checkpoint beside the archive; the list shows archives only
    assert list(archive.parent.glob("checkpoint-*.txt"))
    listed = json.loads(ol(session, "archive", "list", "--json").out)
    assert [(a["name"], a["complete"]) for a in listed] == [(doc["name"], True)]

    # offline, with no database: a downloaded copy verifies on its own
    offline = invoke(["archive", "verify", str(archive), "--public-key", session["public"],
                      "--json"], {"OPSLEDGER_HOME": "/nonexistent"})
    assert offline.code == 0, offline.err
    assert json.loads(offline.out)["ok"] is True
    assert json.loads(offline.out)["provenance"] == "verified"

    r = ol(session, "ticket", "close", "CHG-2041", "--prune", "--session-dir", str(session["dir"]))
    assert r.code == 0, r.err
    assert not session["dir"].exists()
    assert events(session)[-1] == "Closed"


def test_missing_items_refuse_the_seal_with_the_full_list(session):
    (session["dir"] / "risk_limits.yaml").unlink()
    (session["dir"] / "pnl.csv").unlink()
    r = build(session)
    assert r.code == 1
    errors = [line for line in r.error_lines if line.startswith("opsledger: error:")]
    assert len(errors) == 1
    assert "risk_limits.yaml: missing" in r.err and "PnL CSV: missing" in r.err
    assert "ArchiveSealed" not in events(session)
    assert ol(session, "archive", "list", "--json").out.strip() == "[]"


def test_a_log_edited_after_the_fact_is_refused(session):
    with (session["dir"] / "deploy.log").open("a") as log:
        log.write("a line added later\n")
    r = build(session)
    assert r.code == 1 and "deploy.log: altered" in r.err
    assert "ArchiveSealed" not in events(session)


def test_allow_incomplete_seals_and_records_what_was_missing(session):
    (session["dir"] / "exposure.csv").unlink()
    r = build(session, "--allow-incomplete")
    assert r.code == 0, r.err
    assert json.loads(r.out)["incomplete"] == ["exposure CSV: missing (exposure CSV)"]


def test_a_corrupt_byte_is_named_and_blocks_the_close(session):
    doc = json.loads(build(session).out)
    archive = Path(doc["location"].removeprefix("file://"))
    copy = session["dir"].parent / "copy.tar.zst"
    shutil.copy(archive, copy)
    shutil.copy(str(archive) + ".manifest", str(copy) + ".manifest")
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    r = invoke(["archive", "verify", str(copy), "--json"], session["env"])
    assert r.code == 1
    findings = json.loads(r.out)["findings"]
    assert findings and any("sha256" in f or "corrupt" in f for f in findings)

    # the stored copy is read-only; corrupt it the way a failing disk would
    archive.chmod(0o644)
    stored = bytearray(archive.read_bytes())
    stored[len(stored) // 2] ^= 0x01
    archive.write_bytes(bytes(stored))
    r = ol(session, "archive", "verify", "CHG-2041")
    assert r.code == 1
    assert events(session)[-1] == "ArchiveVerified"
    r = ol(session, "ticket", "close", "CHG-2041")
    assert r.code == 1 and "failed verification" in r.err


def test_close_with_prune_keeps_the_folder_when_refused(session):
    r = ol(session, "ticket", "close", "CHG-2041", "--prune", "--session-dir", str(session["dir"]))
    assert r.code == 1 and session["dir"].is_dir()


def test_sealing_into_s3(session, moto_endpoint, new_bucket, monkeypatch):
    env = dict(session["env"])
    env.update({"OPSLEDGER_S3_ENDPOINT": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    bucket = new_bucket(object_lock=True)
    r = invoke(["--actor", "alice.rm", "archive", "build", "CHG-2041", "--session-dir",
                str(session["dir"]), "--store", f"s3://{bucket}/desk-a", "--json"], env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["location"].startswith(f"s3://{bucket}/desk-a/") and doc["verified"] is True
    assert doc["retention_mode"] == "COMPLIANCE"
    again = invoke(["archive", "verify", doc["location"], "--public-key", session["public"],
                    "--json"], env)
    assert again.code == 0, again.err


@pytest.mark.parametrize("fraction", [i / 12 for i in range(12)])
def test_a_killed_build_never_leaves_a_seal_without_an_archive(session, opsledger_exe,
                                                               fraction):
    """SIGKILL at a dozen points of build and upload; a rerun completes."""
    big = session["dir"] / "observability-extra.log"
    # 40 MiB that does not compress, with no ASCII byte in it: random bytes could spell
    # 'key<TAB>' and six more, which the secrets scan rightly refuses to seal
    high = bytes(i | 0x80 for i in range(256))
    with big.open("wb") as f:
        for _ in range(40):
            f.write(os.urandom(1 << 20).translate(high))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")},
           **session["env"]}
    argv = [*opsledger_exe, "archive", "build", "CHG-2041", "--session-dir",
            str(session["dir"]), "--json"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=0.15 + fraction * 2.5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    kinds = events(session)
    stored = invoke(["archive", "list", "--json"], session["env"])
    listing = json.loads(stored.out)
    if "ArchiveSealed" in kinds:
        assert listing and all(a["complete"] for a in listing)
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["verified"] is True
    final = json.loads(invoke(["archive", "list", "--json"], session["env"]).out)
    assert len(final) == 1 and final[0]["complete"]


def test_a_build_cut_short_after_the_store_write_is_finished_by_its_rerun(session,
                                                                          monkeypatch):
    """The narrow window of the test above, every time: the archive is in the
    store, the seal is not yet on the record. The rerun declares the same
    payload (nothing new recorded), rebuilds the same bytes, and the store
    recognises them instead of refusing to overwrite."""
    import opsledger.services.archive_seal as archive_seal

    class Killed(BaseException):
        pass

    def killed(*_, **__):
        raise Killed

    monkeypatch.setattr(archive_seal, "_record_and_verify", killed)
    with pytest.raises(Killed):
        build(session)
    stored = json.loads(invoke(["archive", "list", "--json"], session["env"]).out)
    assert len(stored) == 1 and "ArchiveSealed" not in events(session)
    declared = events(session).count("PayloadDeclared")
    monkeypatch.undo()
    r = build(session)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["verified"] is True and doc["reused"] is True
    assert events(session).count("PayloadDeclared") == declared
    final = json.loads(invoke(["archive", "list", "--json"], session["env"]).out)
    assert len(final) == 1 and final[0]["complete"]


def test_the_archive_carries_the_roster_so_authority_replays_offline(session):
    from opsledger.archiver.verify.verifier import verify_archive

    r = build(session)
    assert r.code == 0, r.err
    archive = Path(json.loads(r.out)["location"].removeprefix("file://"))
    with archive.open("rb") as f:
        report = verify_archive(f)
    roster = [json.loads(line) for line in report.tag_files["opsledger/roster.jsonl"].splitlines()]
    # issue 12: each person's key is in the roster before their role
    assert [row["topic"] for row in roster][:3] == ["opsledger.roster.Founded",
                                                   "opsledger.roster.KeyAdded",
                                                   "opsledger.roster.RoleGranted"]
    # offline, the checks replay (findings would make verify exit 1 and name them)
    offline = invoke(["archive", "verify", str(archive), "--public-key", session["public"],
                      "--json"], {"OPSLEDGER_HOME": "/nonexistent"})
    assert offline.code == 0 and json.loads(offline.out)["findings"] == []
    assert json.loads(offline.out)["provenance"] == "verified"
