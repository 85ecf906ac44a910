"""Witnesses seen from the ledger (two real HTTP witnesses on 127.0.0.1):

- `ledger verify --trust FILE` holds every checkpoint outside the database to
  the trust file's witness quorum: one published without the witnesses, or
  with a cosignature altered, is a failure naming it;
- a rerun of a witnessed seal is byte-identical: it reuses the cosignatures
  published with that checkpoint, even once the witnesses have moved on to a
  larger tree (they would refuse to cosign the older one again).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from clirunner import invoke, public_key_file
from opsledger.services.archive_history import events_jsonl
from opsledger.services.bootstrap import Services
from opsledger.services.ledger_archive import ledger_tag_files
from opsledger.services.settings import Settings
from test_witnesses import configured, seal, session, trust_file, witnesses  # noqa: F401

COSIGNED = "\n\u2014 compliance"


def _grow(desk: dict, person: str) -> None:
    """The log grows after the seal: the desk's administrator registers a key."""
    admin = desk["home"].parent / "keys" / "desk.admin"
    env = {k: v for k, v in desk["env"].items() if k != "OPSLEDGER_ACTOR"}
    r = invoke(["roster", "key", "add", person, str(public_key_file(person)), "--reason", "hire"],
               {**env, "OPSLEDGER_IDENTITY": str(admin)})
    assert r.code == 0, r.err


def _published(desk: dict) -> list[Path]:
    return sorted((desk["home"] / "archives").glob("checkpoint-*.txt"),
                  key=lambda p: int(p.stem.split("-")[1]))


def test_ledger_verify_requires_the_trust_files_witness_quorum(session, witnesses):  # noqa: F811
    env = configured(session["env"], witnesses)
    seal(env, session)
    trust = trust_file(session["tmp"] / "trust", session["log_key"], witnesses, 2)
    ok = invoke(["ledger", "verify", "--trust", str(trust), "--json"], session["env"])
    assert ok.code == 0, ok.out + ok.err
    document = json.loads(ok.out)
    assert document["witness_quorum"] == 2 and document["archives_checked"] == 1

    # a checkpoint published by the log alone, without asking the witnesses
    _grow(session, "hank.ops")
    alone = invoke(["ledger", "checkpoint", "--publish", str(session["home"] / "archives"),
                    "--json"], session["env"])
    assert alone.code == 0, alone.err
    size = json.loads(alone.out)["tree_size"]
    assert invoke(["ledger", "verify"], session["env"]).code == 0  # no trust file: no quorum asked
    failed = invoke(["ledger", "verify", "--trust", str(trust)], session["env"])
    assert failed.code == 1, failed.out
    (line,) = [x for x in failed.out.splitlines() if "witness-quorum" in x]
    assert f"checkpoint-{size}.txt" in line and "0 of the 2 required cosignatures" in line
    assert "absent: compliance1.example/w+" in line

    # one cosignature altered on the checkpoint the seal published: invalid, quorum missed
    sealed = _published(session)[0]
    text = sealed.read_text()
    head, _, last = text.rstrip("\n").rpartition("\n")
    prefix, _, encoded = last.rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    sealed.chmod(0o644)
    sealed.write_text(f"{head}\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n")
    bad = invoke(["ledger", "verify", "--trust", str(trust), "--json"], session["env"])
    assert bad.code == 1
    findings = [f["detail"] for f in json.loads(bad.out)["findings"]
                if f["kind"] == "witness-quorum"]
    assert any(sealed.name in f and "1 of the 2" in f and "invalid: compliance" in f
               for f in findings), findings


def test_a_witnessed_reseal_is_byte_identical_after_the_witnesses_moved_on(session, witnesses):  # noqa: F811
    settings = Settings.from_env(environ=configured(session["env"], witnesses))
    first = Services(settings)
    try:
        events = events_jsonl(first, "CHG-2041")[0]
        files, info = ledger_tag_files(first, "CHG-2041", events,
                                       publish_in=first.archive_store())
    finally:
        first.close()
    assert dict(info)["Opsledger-Witnesses"].startswith("2 of 2 cosigned")
    assert files["opsledger/checkpoint.txt"].decode().count(COSIGNED) == 2
    # the log grows and both witnesses cosign the larger tree: they now hold it
    _grow(session, "ivan.ops")
    later = invoke(["ledger", "checkpoint", "--witness", "--json"],
                   configured(session["env"], witnesses))
    assert later.code == 0 and json.loads(later.out)["witnesses"]["cosigned"] == 2, later.err
    notes: list[str] = []
    again = Services(settings)  # a rerun, in another process
    try:
        rerun = ledger_tag_files(again, "CHG-2041", events, publish_in=again.archive_store(),
                                 notify=notes.append)
    finally:
        again.close()
    assert rerun == (files, info)
    assert not [n for n in notes if "did not cosign" in n or "already published" in n], notes


def test_a_witnessed_checkpoint_published_again_reuses_its_cosignatures(session, witnesses):  # noqa: F811
    env = configured(session["env"], witnesses)
    seal(env, session)
    _grow(session, "june.ops")
    where = str(session["tmp"] / "published")
    first = invoke(["ledger", "checkpoint", "--witness", "--publish", where, "--json"], env)
    assert first.code == 0, first.err
    document = json.loads(first.out)
    assert document["witnesses"]["cosigned"] == 2
    (published,) = Path(where).glob("checkpoint-*.txt")
    assert published.read_text() == document["checkpoint"]
    # The same tree again: the witnesses' cosignatures published with it are reused
    # (asking again would stamp new times, and the published file would no longer match).
    time.sleep(1.1)  # cosignatures are timestamped in seconds: a new one would differ
    again = invoke(["ledger", "checkpoint", "--witness", "--publish", where, "--json"], env)
    assert again.code == 0, again.err
    assert "already published" not in again.err, again.err
    assert json.loads(again.out)["checkpoint"] == published.read_text() == document["checkpoint"]
