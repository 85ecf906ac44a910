"""`opsledger ledger` and the archive's proofs, against the real stores.

Tampering is done the way an insider with database access would: SQL on the
events table (SQLite's `stored_events` by rowid, PostgreSQL's
`opsledger_events` by notification_id), and `ledger verify` must name what
was done and where. Archives are then checked offline with the public key
only, including one an attacker re-bagged with consistent checksums.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from clirunner import invoke, staff
from conftest import PG_DSN
from opsledger.domain.application import OpsLedger
from opsledger.services.archive_history import events_jsonl
from opsledger.services.bootstrap import Services
from opsledger.services.ledger_archive import ledger_tag_files
from opsledger.services.settings import Settings
from story import approve_all, attach_all, open_ticket


def ol(env: dict, *argv: str):
    return invoke(list(argv), env)


def js(env: dict, *argv: str) -> tuple[int, dict]:
    r = ol(env, *argv, "--json")
    return r.code, json.loads(r.out)


@pytest.fixture
def ledger_env(cli_env: dict, tmp_path: Path) -> dict:
    """Three tickets' worth of events, a signing key, a published checkpoint."""
    settings = Settings.from_env(environ=cli_env)
    settings.home.mkdir(parents=True, exist_ok=True)
    # the desk is staffed through the CLI, keys and all: signing a checkpoint asks the
    # roster for alice.rm's key and role (cac52ce); the tickets' events are written below
    staff(cli_env)
    app = OpsLedger(env=settings.event_store_env())
    for key in ("CHG-2041", "CHG-2042", "CHG-2043"):
        open_ticket(app, key)
        attach_all(app, key)
        approve_all(app, key)
    app.close()
    r = ol(cli_env, "keys", "init")
    assert r.code == 0, r.err
    public = tmp_path / "ledger.pub"
    public.write_text(r.out)
    witness = tmp_path / "witness"
    code, cp = js(cli_env, "ledger", "checkpoint", "--publish", str(witness))
    assert code == 0 and cp["published"].endswith(f"checkpoint-{cp['tree_size']}.txt")
    return {"env": cli_env, "public": str(public), "witness": str(witness), "size": cp["tree_size"]}


def run_sql(log: dict, *statements: str) -> list[int]:
    """Runs statements on the events table ({t} its name, {id} its position column);
    returns the positions in order afterwards."""
    env = log["env"]
    if "OPSLEDGER_DATABASE_URL" in env:
        import psycopg

        schema = env["OPSLEDGER_DATABASE_URL"].split("schema=")[1]
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            for s in statements:
                conn.execute(s.format(t=f'"{schema}".opsledger_events', id="notification_id"))
            rows = conn.execute(f'select notification_id from "{schema}".opsledger_events '
                                "order by notification_id").fetchall()
        return [r[0] for r in rows]
    conn = sqlite3.connect(Path(env["OPSLEDGER_HOME"]) / "events.sqlite", isolation_level=None)
    try:
        for s in statements:
            conn.execute(s.format(t="stored_events", id="rowid"))
        return [r[0] for r in conn.execute("select rowid from stored_events order by rowid")]
    finally:
        conn.close()


def verify(log: dict) -> tuple[int, list[tuple[str, int | None]], dict]:
    code, doc = js(log["env"], "ledger", "verify", "--published", log["witness"])
    return code, [(f["kind"], f["position"]) for f in doc["findings"]], doc


def test_an_untouched_log_verifies_against_stored_and_published_checkpoints(ledger_env):
    code, found, doc = verify(ledger_env)
    assert code == 0 and found == [] and doc["ok"] is True
    assert doc["log_events"] == ledger_env["size"] and doc["checkpoints_checked"] == 2
    assert doc["signatures_checked"] is True
    # the published checkpoint is the one outside the database to check against (bd1ea38)
    human = ol(ledger_env["env"], "ledger", "verify", "--published", ledger_env["witness"])
    assert human.code == 0 and human.out.startswith("ledger: OK")


def test_an_updated_state_is_altered_at_its_position(ledger_env):
    pad = "'\\x20'::bytea" if "OPSLEDGER_DATABASE_URL" in ledger_env["env"] else "x'20'"
    run_sql(ledger_env, f"update {{t}} set state = state || {pad} where {{id}} = 2")  # still JSON
    code, found, _ = verify(ledger_env)
    assert code == 1
    assert found[0] == ("altered", 2)
    assert ("checkpoint", None) in found  # stored and published heads no longer match


def test_a_deleted_row_is_named(ledger_env):
    run_sql(ledger_env, "delete from {t} where {id} = 17")
    code, found, _ = verify(ledger_env)
    assert code == 1 and found[0] == ("deleted", 17)
    r = ol(ledger_env["env"], "ledger", "verify")
    assert "deleted position 17: the ledger holds it, the log no longer does" in r.out


def test_two_swapped_rows_are_reordered(ledger_env):
    run_sql(
        ledger_env,
        "update {t} set {id} = -1 where {id} = 9",
        "update {t} set {id} = 9 where {id} = 10",
        "update {t} set {id} = 10 where {id} = -1",
    )
    code, found, _ = verify(ledger_env)
    assert code == 1 and found[:2] == [("reordered", 9), ("reordered", 10)]


def test_a_truncated_tail_is_shorter_than_the_published_head(ledger_env):
    size = ledger_env["size"]
    positions = run_sql(ledger_env, f"delete from {{t}} where {{id}} > {size - 3}")
    assert len(positions) == size - 3
    code, found, doc = verify(ledger_env)
    assert code == 1
    assert found[:3] == [("truncated", p) for p in range(size - 2, size + 1)]
    truncated = [f["detail"] for f in doc["findings"] if f["position"] is None]
    assert f"stored checkpoint {size} covers {size} events, the log holds {size - 3}" in truncated[0]
    assert any(f"checkpoint-{size}.txt covers {size} events" in d for d in truncated)


def test_a_row_slipped_into_a_gap_is_inserted(ledger_env):
    app = OpsLedger(env=Settings.from_env(environ=ledger_env["env"]).event_store_env())
    attach_all(app, open_ticket(app, "CHG-2044"))
    app.close()
    gap = ledger_env["size"] + 3
    run_sql(ledger_env, f"delete from {{t}} where {{id}} = {gap}")  # before the ledger reads it
    assert ol(ledger_env["env"], "ledger", "checkpoint").code == 0  # a gap, as a rollback leaves
    if "OPSLEDGER_DATABASE_URL" in ledger_env["env"]:
        run_sql(ledger_env, "insert into {t} (originator_id, originator_version, topic, state, "
                f"notification_id) values (gen_random_uuid(), 1, 'forged', '\\x7b7d', {gap})")
    else:
        run_sql(ledger_env, "insert into {t} (rowid, originator_id, originator_version, topic, "
                f"state) values ({gap}, 'ffffffff-0000-0000-0000-000000000000', 1, 'forged', x'7b7d')")
    code, found, _ = verify(ledger_env)
    assert code == 1 and found == [("inserted", gap), ("checkpoint", None)]  # the later head too


def test_proofs_print_and_verify_offline(ledger_env, tmp_path):
    code, proof = js(ledger_env["env"], "ledger", "proof", "--position", "7")
    assert code == 0 and proof["event"]["position"] == 7 and proof["checkpoint"]
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    key = ["--public-key", ledger_env["public"]]
    offline = {"OPSLEDGER_HOME": "/nonexistent"}
    assert invoke(["ledger", "verify-proof", str(path), *key], offline).code == 0
    refused = invoke(["ledger", "verify-proof", str(path)], offline)
    assert refused.code == 2 and "pass --public-key" in refused.err
    forged = {**proof, "event": {**proof["event"], "state": proof["event"]["state"] + " "}}
    path.write_text(json.dumps(forged))
    r = invoke(["ledger", "verify-proof", str(path), *key, "--json"], offline)
    assert r.code == 1 and json.loads(r.out)["findings"]

    code, consistency = js(ledger_env["env"], "ledger", "consistency", "--from", "3")
    assert code == 0 and consistency["second_size"] == ledger_env["size"]
    path.write_text(json.dumps(consistency))
    assert invoke(["ledger", "verify-proof", str(path), *key], offline).code == 0
    r = ol(ledger_env["env"], "ledger", "consistency", "--from", "3", "--to", "2")
    assert r.code == 2 and "--from 3 is above --to 2" in r.err
    r = ol(ledger_env["env"], "ledger", "proof", "--position", "9999")
    assert r.code == 3 and "not in the ledger yet" in r.err


def test_seal_proofs_are_identical_on_a_rerun_after_another_seal(ledger_env):
    settings = Settings.from_env(environ=ledger_env["env"])
    first = Services(settings)
    try:
        events, _, _ = events_jsonl(first, "CHG-2042")
        files, info = ledger_tag_files(first, "CHG-2042", events)
        ledger_tag_files(first, "CHG-2043", events_jsonl(first, "CHG-2043")[0])
    finally:
        first.close()
    again = Services(settings)  # another process, as a rerun after a crash would be
    try:
        assert ledger_tag_files(again, "CHG-2042", events) == (files, info)
    finally:
        again.close()
    assert info[0][1].startswith("rfc9162 tree ")


# --- archives -----------------------------------------------------------------------------------


@pytest.fixture
def session(tmp_path: Path, opsledger_exe) -> dict:
    """A settled demo session, not yet archived (SQLite)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "d"), "--no-archive"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "d" / ".opsledger"
    session_dir = next((tmp_path / "d" / "reports" / "live").iterdir()) / "CHG-2041"
    # alice signs with her key of the demo's desk (the demo registered it in the roster)
    return {"env": {"OPSLEDGER_HOME": str(home), "OPSLEDGER_ACTOR": "alice.rm",
                    "OPSLEDGER_IDENTITY": str(tmp_path / "d" / "keys" / "alice.rm")},
            "dir": session_dir, "tmp": tmp_path}


def seal(session) -> tuple[object, Path]:
    r = invoke(["archive", "build", "CHG-2041", "--session-dir", str(session["dir"]), "--json"],
               session["env"])
    assert r.code == 0, r.err
    return r, Path(json.loads(r.out)["location"].removeprefix("file://"))


def unpack(archive: Path, dest: Path) -> Path:
    with archive.open("rb") as f, tarfile.open(
        fileobj=zstandard.ZstdDecompressor().stream_reader(f), mode="r|"
    ) as tar:
        tar.extractall(dest, filter="data")
    return next(dest.iterdir())


def repack(top: Path, archive: Path) -> None:
    """Re-bags with the tag manifests recomputed: checksums alone no longer tell."""
    for algorithm in ("sha256", "sha512"):
        manifest = top / f"tagmanifest-{algorithm}.txt"
        lines = []
        for line in manifest.read_text().splitlines():
            _, name = line.split(maxsplit=1)
            lines.append(f"{hashlib.new(algorithm, (top / name).read_bytes()).hexdigest()}  {name}")
        manifest.write_text("\n".join(lines) + "\n")
    with archive.open("wb") as f, zstandard.ZstdCompressor().stream_writer(f) as z, tarfile.open(
        fileobj=z, mode="w|", format=tarfile.PAX_FORMAT
    ) as tar:
        tar.add(top, arcname=top.name)


def test_an_archive_proves_its_events_offline_with_the_public_key_only(session):
    public = session["tmp"] / "ledger.pub"
    public.write_text(invoke(["keys", "init"], session["env"]).out)
    _, archive = seal(session)
    offline = {"OPSLEDGER_HOME": "/nonexistent"}
    r = invoke(["archive", "verify", str(archive), "--public-key", str(public), "--json"], offline)
    assert r.code == 0, r.out
    info = dict(json.loads(r.out)["bag_info"])
    assert info["Opsledger-Proofs"].startswith("rfc9162 tree ")

    # an insider rewrites who signed one event and re-bags it with fresh checksums:
    # the archived roster never granted the new name the role, so the bag alone fails
    top = unpack(archive, session["tmp"] / "x")
    events = (top / "opsledger" / "events.jsonl").read_text().splitlines()
    assert "alice.rm" in events[1] and "roster_version" in json.loads(events[1])["state"]
    signed = events[1]
    events[1] = signed.replace("alice.rm", "mallo.ry")
    (top / "opsledger" / "events.jsonl").write_text("\n".join(events) + "\n")
    forged = session["tmp"] / "forged.tar.zst"
    repack(top, forged)
    r = invoke(["archive", "verify", str(forged), "--json"], offline)
    assert r.code == 1
    # issue 12: the event's signature names its real signer as well
    position = json.loads(events[1])["position"]
    finding, wrong_signer = json.loads(r.out)["findings"]
    assert finding.startswith("authority: EvidenceAttached v2 by mallo.ry: the roster at version")
    assert wrong_signer == (f"identity: position {position} EvidenceAttached v2: wrong signer: "
                            "the intent is alice.rm's, the event names mallo.ry")
    r = invoke(["archive", "verify", str(forged), "--public-key", str(public), "--json"], offline)
    assert r.code == 1
    inclusion = (f"proof-inclusion 'opsledger/events.jsonl line 2': position {position}: "
                 "the event differs from the leaf proved")
    assert json.loads(r.out)["findings"] == [finding, wrong_signer, inclusion]

    # a rewrite the roster cannot see (the evidence's recorded digest): the proofs catch it,
    # and since issue 12 so does the event's signature (it signed the digest given)
    state = json.loads(json.loads(signed)["state"])
    state["sha256"] = "0" * 64
    row = json.loads(signed)
    row["state"] = json.dumps(state, separators=(",", ":"), sort_keys=True)
    events[1] = json.dumps(row, separators=(",", ":"), sort_keys=True)
    (top / "opsledger" / "events.jsonl").write_text("\n".join(events) + "\n")
    repack(top, forged)
    altered = (f"identity: position {position} EvidenceAttached v2: altered: the signed sha256 "
               "differs from the recorded one")
    r = invoke(["archive", "verify", str(forged), "--json"], offline)
    assert r.code == 1 and json.loads(r.out)["findings"] == [altered]
    r = invoke(["archive", "verify", str(forged), "--public-key", str(public), "--json"], offline)
    assert r.code == 1
    assert json.loads(r.out)["findings"] == [altered, inclusion]

    # and a flipped hex digit in the proofs
    top = unpack(archive, session["tmp"] / "y")
    proofs = top / "opsledger" / "proofs.json"
    text = proofs.read_text()
    at = text.index('"path":["') + 9
    proofs.write_text(text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:])
    repack(top, forged)
    r = invoke(["archive", "verify", str(forged), "--public-key", str(public), "--json"], offline)
    assert r.code == 1 and "proof-inclusion" in json.loads(r.out)["findings"][0]


def test_without_a_key_the_archive_says_it_has_no_proofs(session):
    r, archive = seal(session)
    assert "no signing key" in r.err and "carries no ledger proofs" in r.err
    other = session["tmp"] / "other"
    key = invoke(["keys", "init"], {"OPSLEDGER_HOME": str(other)}).out.strip()
    r = invoke(["archive", "verify", str(archive), "--public-key", key, "--json"],
               {"OPSLEDGER_HOME": "/nonexistent"})
    assert r.code == 1
    doc = json.loads(r.out)
    assert dict(doc["bag_info"])["Opsledger-Proofs"] == "none (no signing key)"
    assert [f.split(":")[0] for f in doc["findings"]] == ["proof-missing"]


def test_checkpoints_published_to_s3_witness_a_truncation(ledger_env, moto_endpoint, new_bucket):
    env = {**ledger_env["env"], "OPSLEDGER_S3_ENDPOINT": moto_endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    witness = f"s3://{new_bucket(object_lock=True)}/witness"
    code, cp = js(env, "ledger", "checkpoint", "--publish", witness)
    assert code == 0 and cp["published"] == f"{witness}/checkpoint-{ledger_env['size']}.txt"
    assert js(env, "ledger", "checkpoint", "--publish", witness)[0] == 0  # the same bytes: kept
    # an insider truncates the log and rewrites the ledger's own tables to match
    run_sql(ledger_env, f"delete from {{t}} where {{id}} > {ledger_env['size'] - 2}")
    settings = Settings.from_env(environ=env)
    context = Services(settings)
    try:
        context.ledger.projector.rebuild()
        store = context.ledger.store
        with store.transaction() as writer:
            writer.cur.execute("DELETE FROM " + store.qualify("ledger_checkpoints"))
    finally:
        context.close()
    code, doc = js(env, "ledger", "verify", "--published", witness)
    assert code == 1
    assert [(f["kind"], f["position"]) for f in doc["findings"]] == [("truncated", None)]
    assert f"checkpoint-{ledger_env['size']}.txt covers" in doc["findings"][0]["detail"]
