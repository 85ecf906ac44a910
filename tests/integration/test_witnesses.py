"""Witnesses as real HTTP servers on 127.0.0.1 (C2SP tlog-witness): a seal
cosigned by two verifies with quorum 2; a rewritten history is refused by
both, and an archive that carries only the log's own signature fails verify
with quorum 2. One witness also runs as `opsledger witness serve`, a real
subprocess stopped by SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from clirunner import invoke
from opsledger.adapters.signing_keys import load_key
from opsledger.adapters.witness_http import WitnessClient
from opsledger.domain.checkpoint import Checkpoint, sign_checkpoint
from opsledger.domain.merkle import consistency_proof, leaf_hash, root_hash
from opsledger.domain.witness import AddCheckpoint
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings
from opsledger.services.witness import init_witness, open_witness, witness_server

ORIGIN = "opsledger.local/ledger"


@pytest.fixture
def session(tmp_path: Path, opsledger_exe) -> dict:
    """A settled demo session, not yet archived, with the log's signing key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    done = subprocess.run([*opsledger_exe, "demo", "--dir", str(tmp_path / "d"), "--no-archive"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "d" / ".opsledger"
    session_env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_ACTOR": "alice.rm",
                   "OPSLEDGER_IDENTITY": str(tmp_path / "d" / "keys" / "alice.rm")}
    log_key = invoke(["keys", "init"], session_env).out.strip()
    return {"env": session_env, "home": home, "tmp": tmp_path, "log_key": log_key,
            "dir": next((tmp_path / "d" / "reports" / "live").iterdir()) / "CHG-2041"}


@pytest.fixture
def witnesses(session):
    """Two witnesses, each its own key and state folder, served on 127.0.0.1 by threads."""
    servers, found = [], []
    for n in (1, 2):
        key = init_witness(session["tmp"] / f"w{n}.key", f"compliance{n}.example/w")
        witness = open_witness(key.key_file, session["tmp"] / f"w{n}-state",
                               [f"{ORIGIN}={session['log_key']}"])
        server = witness_server(witness)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        found.append((f"http://127.0.0.1:{server.server_address[1]}", key.verifier_key))
    yield found
    for server in servers:
        server.shutdown()
        server.server_close()


def configured(env: dict, found: list[tuple[str, str]]) -> dict:
    return {**env, "OPSLEDGER_WITNESSES": " ".join(f"{u}={k}" for u, k in found)}


def trust_file(path: Path, log_key: str, found, quorum: int) -> Path:
    path.write_text(f"# the desk's log, two compliance witnesses\nlog {log_key}\n"
                    + "".join(f"witness {k}\n" for _, k in found) + f"quorum {quorum}\n")
    return path


def seal(env: dict, session: dict):
    r = invoke(["archive", "build", "CHG-2041", "--session-dir", str(session["dir"]), "--json"], env)
    assert r.code == 0, r.err
    return r, Path(json.loads(r.out)["location"].removeprefix("file://"))


def test_a_seal_cosigned_by_two_witnesses_verifies_with_quorum_two(session, witnesses):
    r, archive = seal(configured(session["env"], witnesses), session)
    assert re.search(r"witnesses 2 of 2 cosigned .*, \d+ ms", r.err), r.err
    offline = {"OPSLEDGER_HOME": "/nonexistent"}
    trust = trust_file(session["tmp"] / "trust", session["log_key"], witnesses, 2)
    v = invoke(["archive", "verify", str(archive), "--trust", str(trust), "--json"], offline)
    assert v.code == 0, v.out
    document = json.loads(v.out)
    assert document["provenance"] == "verified"
    assert dict(document["bag_info"])["Opsledger-Witnesses"].startswith("2 of 2 cosigned")
    # the checkpoint published beside the archive carries the cosignatures too
    published = sorted((session["home"] / "archives").glob("checkpoint-*.txt"))[-1].read_text()
    assert published.count("\n\u2014 ") == 3

    # one event's proof, as C2SP tlog-proof, checked again by our own checker
    events = json.loads(invoke(["timeline", "CHG-2041", "--json"], session["env"]).out)["events"]
    position = events[2]["position"]
    p = invoke(["archive", "proof", str(archive), "--position", str(position)], offline)
    assert p.code == 0, p.err
    lines = p.out.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("extra ")
    assert re.fullmatch(r"index \d+", lines[2]) and p.out.count("\n\u2014 ") == 3
    proof = session["tmp"] / "event.tlog-proof"
    proof.write_text(p.out)
    c = invoke(["ledger", "verify-proof", str(proof), "--public-key", session["log_key"],
                "--json"], offline)
    assert c.code == 0 and json.loads(c.out)["signed"], c.out
    index = int(lines[2].split()[1])
    proof.write_text(p.out.replace(lines[2], f"index {index + 1}", 1))
    assert invoke(["ledger", "verify-proof", str(proof), "--public-key", session["log_key"]],
                  offline).code == 1


def test_a_rewritten_history_is_refused_by_the_witnesses_and_fails_the_quorum(session, witnesses):
    env = configured(session["env"], witnesses)
    _, archive = seal(env, session)
    log = load_key(session["home"] / "keys" / "ledger.key")  # the insider has the file key
    # a fork: the insider's other tree, at the size the witnesses cosigned, and a larger one
    published = (session["home"] / "archives").glob("checkpoint-*.txt")
    held = max(int(p.stem.split("-")[1]) for p in published)  # what the witnesses cosigned
    forged = [leaf_hash(f"rewritten {i}".encode()) for i in range(held + 3)]
    same_size = sign_checkpoint(Checkpoint(ORIGIN, held, root_hash(forged[:held])), [log])
    larger = sign_checkpoint(Checkpoint(ORIGIN, held + 3, root_hash(forged)), [log])
    for url, _ in witnesses:
        client = WitnessClient(url)
        status, _, body = client.add_checkpoint(AddCheckpoint(held, (), same_size).to_body())
        assert status == 409 and b"fork" in body
        proof = tuple(consistency_proof(held, held + 3, forged))
        assert client.add_checkpoint(AddCheckpoint(held, proof, larger).to_body())[0] == 422
        client.close()

    # the insider rewrites the log itself (drops the cosigned tree's last event and all
    # after it, rebuilds the ledger's tables, forgets its checkpoints and seals) and has
    # the result signed: both witnesses refuse
    conn = sqlite3.connect(session["home"] / "events.sqlite", isolation_level=None)
    conn.execute("delete from stored_events where rowid >= (select rowid from stored_events "
                 "order by rowid limit 1 offset ?)", (held - 1,))
    conn.close()
    services = Services(Settings.from_env(environ=session["env"]))
    try:
        services.projector.rebuild()  # the views too: reads refuse views ahead of the log
        services.ledger.projector.rebuild()
        store = services.ledger.store
        with store.transaction() as writer:
            for table in ("ledger_checkpoints", "ledger_seals"):
                writer.cur.execute("DELETE FROM " + store.qualify(table))
    finally:
        services.close()
    r = invoke(["ledger", "checkpoint", "--witness", "--json"], env)
    assert r.code == 0, r.err
    document = json.loads(r.out)
    assert document["witnesses"]["cosigned"] == 0
    assert [o["detail"] for o in document["witnesses"]["outcomes"]] == [
        f"it has cosigned tree {held}, larger than this checkpoint's; "
        "a witness never cosigns an older tree"] * 2
    assert r.err.count("did not cosign") == 2
    assert "\u2014 compliance" not in document["checkpoint"]

    # what the insider can seal now carries the log's signature only: quorum 2 fails
    stripped = session["tmp"] / "stripped.tar.zst"
    _strip_cosignatures(archive, stripped, session["tmp"] / "x")
    trust = trust_file(session["tmp"] / "trust", session["log_key"], witnesses, 2)
    offline = {"OPSLEDGER_HOME": "/nonexistent"}
    v = invoke(["archive", "verify", str(stripped), "--trust", str(trust), "--json"], offline)
    assert v.code == 1
    document = json.loads(v.out)
    (finding,) = document["findings"]
    assert finding.startswith("witness-quorum: 0 of the 2 required cosignatures")
    assert "absent: compliance1.example/w+" in finding and "compliance2.example/w+" in finding
    assert document["provenance"] == "failed"


def _strip_cosignatures(archive: Path, out: Path, work: Path) -> None:
    from test_ledger_cli import repack, unpack

    top = unpack(archive, work)
    checkpoint = top / "opsledger" / "checkpoint.txt"
    lines = checkpoint.read_text().split("\n")
    checkpoint.write_text("\n".join(line for line in lines if "compliance" not in line))
    repack(top, out)


def test_witness_serve_runs_as_a_process_and_stops_on_sigterm(session, opsledger_exe):
    key = session["tmp"] / "w.key"
    r = invoke(["witness", "init", "--key", str(key), "--name", "compliance.example/w9"], {})
    assert r.code == 0 and r.out.startswith("compliance.example/w9+"), r.err
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    proc = subprocess.Popen(
        [*opsledger_exe, "witness", "serve", "--key", str(key), "--state",
         str(session["tmp"] / "w9"), "--log", f"{ORIGIN}={session['log_key']}"],
        env=env, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", first).group(1)
        witness = [(url, r.out.strip())]
        out = invoke(["ledger", "checkpoint", "--witness", "--json"],
                     configured(session["env"], witness))
        assert out.code == 0 and json.loads(out.out)["witnesses"]["cosigned"] == 1, out.err
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    rest = proc.stderr.read()
    assert "200 'opsledger.local/ledger': cosigned tree" in rest and "stopped" in rest
    assert list((session["tmp"] / "w9").glob("log-*.txt"))
