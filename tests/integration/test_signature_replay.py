"""An auditor with the archive file and a public key proves who signed what;
an insider who alters a signature, in the store or in the archive, is named.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import tarfile
from pathlib import Path

import pytest
import zstandard
from clirunner import invoke
from insider import rewrite_history


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    result = invoke(["demo", "--dir", str(folder)], {})
    assert result.code == 0, result.err
    return folder


def _home(demo: Path) -> dict[str, str]:
    return {"OPSLEDGER_HOME": str(demo / ".opsledger")}


def test_the_demo_store_replays_every_signature(demo):
    audit = invoke(["roster", "audit", "--json"], _home(demo))
    assert audit.code == 0, audit.out
    signatures = json.loads(audit.out)["signatures"]
    assert signatures["unsigned"] == 0 and signatures["findings"] == []
    assert signatures["events"] > 40


def _rewrite(archive: Path, out: Path, change) -> None:
    """Re-packs the archive with `change(name, data) -> data` applied, and the
    bag's tag manifests recomputed, as an insider with bagit.py would."""
    import hashlib

    raw = zstandard.ZstdDecompressor().stream_reader(archive.open("rb")).read()
    members = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isfile() else None
            members.append((m, data))
    changed = {m.name: change(m.name, d) for m, d in members if d is not None}
    root = members[0][0].name.split("/")[0]
    for m, _ in members:  # payload manifests first: the tag manifests list them
        if re.search(r"/manifest-(sha256|sha512)\.txt$", m.name):
            algo = m.name.rsplit("-", 1)[1].split(".")[0]
            lines = []
            for line in changed[m.name].decode().splitlines():
                digest, path = line.split(" ", 1)
                path = path.strip()
                digest = hashlib.new(algo, changed[f"{root}/{path}"]).hexdigest()
                lines.append(f"{digest}  {path}")
            changed[m.name] = ("\n".join(lines) + "\n").encode()
    for m, _ in members:
        if re.search(r"tagmanifest-(sha256|sha512)\.txt$", m.name):
            algo = m.name.rsplit("-", 1)[1].split(".")[0]
            root = m.name.split("/")[0]
            lines = []
            for line in changed[m.name].decode().splitlines():
                digest, path = line.split(" ", 1)
                path = path.strip()
                body = changed.get(f"{root}/{path}")
                if body is not None:
                    digest = hashlib.new(algo, body).hexdigest()
                lines.append(f"{digest}  {path}")
            changed[m.name] = ("\n".join(lines) + "\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m, d in members:
            if d is None:
                tar.addfile(m)
            else:
                m.size = len(changed[m.name])
                tar.addfile(m, io.BytesIO(changed[m.name]))
    out.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))


def test_an_altered_signature_in_the_archive_is_named_by_position(demo, tmp_path):
    (archive,) = (demo / ".opsledger" / "archives").glob("*.tar.zst")
    key = demo / ".opsledger" / "keys" / "ledger.pub"
    ok = invoke(["archive", "verify", str(archive), "--public-key", str(key)], {})
    assert ok.code == 0, ok.out + ok.err
    altered_at: list[int] = []

    def flip_one_signature(name: str, data: bytes) -> bytes:
        if not name.endswith("opsledger/events.jsonl"):
            return data
        lines = data.decode().splitlines()
        for i, line in enumerate(lines):
            row = json.loads(line)
            state = json.loads(row["state"])
            if row["topic"].endswith("ApprovalGiven") and not altered_at:
                armored = state["signature"]["signature"].splitlines()
                body = armored[3]
                armored[3] = ("B" if body[0] != "B" else "C") + body[1:]
                state["signature"]["signature"] = "\n".join(armored) + "\n"
                row["state"] = json.dumps(state, sort_keys=True, separators=(",", ":"))
                lines[i] = json.dumps(row, sort_keys=True, separators=(",", ":"))
                altered_at.append(row["position"])
        return ("\n".join(lines) + "\n").encode()

    forged = tmp_path / archive.name
    _rewrite(archive, forged, flip_one_signature)
    result = invoke(["archive", "verify", str(forged), "--public-key", str(key)], {})
    assert result.code == 1
    assert f"identity: position {altered_at[0]} ApprovalGiven" in result.out
    assert "bad signature" in result.out


def test_a_payload_file_changed_with_its_manifests_regenerated_is_named(demo, tmp_path):
    """What bagit.py would accept: the log and every manifest rewritten together.
    The signed payload declaration and the run's own recorded digest say otherwise."""
    (archive,) = (demo / ".opsledger" / "archives").glob("*.tar.zst")
    key = demo / ".opsledger" / "keys" / "ledger.pub"

    def doctor_the_log(name: str, data: bytes) -> bytes:
        if not name.endswith("/data/deploy.log"):
            return data
        return data.replace(b"promoted", b"REVERTED")  # same size: Payload-Oxum holds

    forged = tmp_path / archive.name
    _rewrite(archive, forged, doctor_the_log)
    result = invoke(["archive", "verify", str(forged), "--public-key", str(key)], {})
    assert result.code == 1
    declared = re.search(r"binding: data/deploy\.log has sha256 \w+, the payload declared at "
                         r"position (\d+)", result.out)
    recorded = re.search(r"binding: data/deploy\.log has sha256 \w+, the event at position "
                         r"(\d+) recorded", result.out)
    assert declared and recorded, result.out
    # nothing else is wrong with the bag: only the signed events catch it
    assert not [line for line in result.out.splitlines()
                if line.startswith("  - ") and "binding:" not in line]


def test_an_event_altered_in_the_store_fails_the_roster_audit(demo, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(demo / ".opsledger", home)
    db = sqlite3.connect(home / "events.sqlite")
    rowid, state = db.execute(
        "select rowid, state from stored_events where topic like '%ApprovalGiven' limit 1"
    ).fetchone()
    fields = json.loads(state)
    fields["reference"] = "rewritten by an insider"
    db.execute("update stored_events set state = ? where rowid = ?",
               (json.dumps(fields, sort_keys=True, separators=(",", ":")).encode(), rowid))
    db.commit()
    db.close()
    audit = invoke(["roster", "audit"], {"OPSLEDGER_HOME": str(home)})
    assert audit.code == 1
    assert "altered: the signed reference differs from the recorded one" in audit.out


def test_an_insider_rewrite_is_caught_by_default_once_an_archive_was_sealed(demo, tmp_path):
    """Edit an event, recompute the ledger's tables, delete its checkpoints and
    seals, re-sign with the stolen file key: the checkpoint the seal published
    beside its archive still says otherwise, and ledger verify reads it by default."""
    import shutil


    home = tmp_path / "home"
    shutil.copytree(demo / ".opsledger", home)
    # the insider works as the desk's release manager, with her own key
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_IDENTITY": str(demo / "keys" / "alice.rm")}
    assert invoke(["ledger", "verify"], env).code == 0
    rewrite_history(home)  # edit, recompute the ledger tables, delete checkpoints
    assert invoke(["ledger", "checkpoint"], env).code == 0  # re-signed with the stolen key
    assert invoke(["ledger", "verify", "--database-only", "--published", str(tmp_path)],
                  env).code == 0  # the database agrees with itself
    result = invoke(["ledger", "verify"], env)  # default: the checkpoints the seals published
    assert result.code == 1, result.out + result.err
    assert "TAMPERED" in result.out and "checkpoint-" in result.out


def test_without_a_log_key_verify_checks_integrity_only_and_says_so(demo):
    (archive,) = (demo / ".opsledger" / "archives").glob("*.tar.zst")
    plain = invoke(["archive", "verify", str(archive), "--json"], {})
    assert plain.code == 3
    assert json.loads(plain.out)["provenance"] == "not-checked"
    assert "provenance not checked" in plain.err
    assert invoke(["archive", "verify", str(archive), "--integrity-only"], {}).code == 0
    trust = demo / "trust.txt"
    key = (demo / ".opsledger" / "keys" / "ledger.pub").read_text().strip()
    trust.write_text(f"# the desk's log key, from its published verifier key\nlog {key}\n")
    trusted = invoke(["archive", "verify", str(archive), "--trust", str(trust), "--json"], {})
    assert trusted.code == 0 and json.loads(trusted.out)["provenance"] == "verified"


def test_a_rotated_key_is_announced_by_the_old_one_and_old_checkpoints_still_verify(demo, tmp_path):
    import shutil

    from opsledger.adapters.signing_keys import Ed25519Verifier
    from opsledger.domain.checkpoint import open_note

    home = tmp_path / "home"
    shutil.copytree(demo / ".opsledger", home)
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_IDENTITY": str(demo / "keys" / "alice.rm")}
    old_key = (home / "keys" / "ledger.pub").read_text().strip()
    rotated = invoke(["keys", "rotate", "--json"], env)
    assert rotated.code == 0, rotated.err
    doc = json.loads(rotated.out)
    assert doc["old"] == old_key and doc["new"] != old_key
    # the statement is signed by both: whoever trusts the old key learns the new one
    for key in (doc["old"], doc["new"]):
        opened = open_note(doc["statement"], [Ed25519Verifier.from_verifier_key(key)])
        assert f"new {doc['new']}" in opened.text
    assert (home / "archives" / f"key-rotation-{doc['tree_size']}.txt").is_file()
    assert invoke(["ledger", "checkpoint"], env).code == 0  # signed by the new key
    verified = invoke(["ledger", "verify", "--json"], env)  # old checkpoints: the retired key
    assert verified.code == 0, verified.out + verified.err
    assert json.loads(verified.out)["signatures_checked"] is True
    (archive,) = (home / "archives").glob("*.tar.zst")
    assert invoke(["archive", "verify", str(archive), "--public-key", old_key], {}).code == 0
