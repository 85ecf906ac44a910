"""What an insider with the database, the desk's account and a stolen key
still cannot make `ledger verify` accept:

- a rewritten history, once the published checkpoint files are deleted too:
  the checkpoint inside the sealed archive says otherwise, and is read by default;
- a checkpoint signed with the old key after a rotation: the rotation destroys
  its private half;
- with a copy of the old key stolen before the rotation, a checkpoint of a
  tree larger than the log was when the key was rotated out, in `ledger verify` and in `archive verify
  --trust` (`log KEY until-tree N`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clirunner import invoke, public_key_file
from insider import rewrite_history
from opsledger.adapters.signing_keys import load_key


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    result = invoke(["demo", "--dir", str(folder)], {})
    assert result.code == 0, result.err
    return folder


@pytest.fixture
def desk(demo: Path, tmp_path: Path) -> dict:
    """A copy of the demo's desk, the insider acting as its release manager."""
    home = tmp_path / "home"
    shutil.copytree(demo / ".opsledger", home)
    env = {"OPSLEDGER_HOME": str(home), "OPSLEDGER_IDENTITY": str(demo / "keys" / "alice.rm")}
    return {"home": home, "env": env, "tmp": tmp_path}


def test_the_checkpoint_inside_the_archive_catches_a_rewrite_once_published_ones_are_gone(desk):
    home, env = desk["home"], desk["env"]
    (archive,) = (home / "archives").glob("*.tar.zst")
    before = invoke(["ledger", "verify", "--json"], env)
    assert before.code == 0, before.out + before.err
    assert json.loads(before.out)["archives_checked"] == 1
    rewrite_history(home)
    assert invoke(["ledger", "checkpoint"], env).code == 0  # re-signed with the stolen file key
    for published in (home / "archives").glob("checkpoint-*.txt"):
        published.unlink()  # the folder store is the desk account's too
    result = invoke(["ledger", "verify"], env)
    assert result.code == 1, result.out + result.err
    assert "TAMPERED" in result.out
    assert f"the checkpoint in {archive.name}" in result.out
    assert "Traceback" not in result.out + result.err
    document = json.loads(invoke(["ledger", "verify", "--json"], env).out)
    assert document["published_checked"] == 0 and document["archives_checked"] == 1
    assert any(f["kind"] == "checkpoint" and archive.name in f["detail"]
               for f in document["findings"])


def test_an_unreadable_archive_is_a_finding_not_a_pass(desk):
    home, env = desk["home"], desk["env"]
    (archive,) = (home / "archives").glob("*.tar.zst")
    data = bytearray(archive.read_bytes())
    archive.chmod(0o644)
    archive.write_bytes(bytes(data[: len(data) // 2]))  # cut short: the checkpoint is near the end
    for published in (home / "archives").glob("checkpoint-*.txt"):
        published.unlink()
    result = invoke(["ledger", "verify"], env)
    assert result.code == 1, result.out + result.err
    assert f"archive: {archive.name}: its checkpoint could not be read" in result.out


def _rotate(env: dict, home: Path) -> tuple[dict, Path]:
    stolen = home.parent / "stolen-ledger.key"
    shutil.copy2(home / "keys" / "ledger.key", stolen)  # a copy of the old key walks out
    rotated = invoke(["keys", "rotate", "--json"], env)
    assert rotated.code == 0, rotated.err
    return json.loads(rotated.out), stolen


def _grow(env: dict, administrator: Path) -> None:
    """Record something after the rotation, so that the tree is larger than at it."""
    r = invoke(["roster", "key", "add", "gina.ops", str(public_key_file("gina.ops")),
                "--reason", "new hire"], {**env, "OPSLEDGER_IDENTITY": str(administrator)})
    assert r.code == 0, r.err


def test_a_rotated_out_key_cannot_vouch_for_a_tree_larger_than_at_its_rotation(desk, demo):
    home, env = desk["home"], desk["env"]
    rotation, stolen = _rotate(env, home)
    size = rotation["tree_size"]
    assert invoke(["ledger", "verify"], env).code == 0  # old checkpoints: the retired key, in bound
    _grow(env, demo / "keys" / "desk.admin")
    # the former insider signs the now larger tree with the stolen old key, and publishes it
    forged = invoke(["ledger", "checkpoint", "--key-file", str(stolen), "--publish",
                     str(home / "archives"), "--json"], env)
    assert forged.code == 0, forged.err
    forged_size = json.loads(forged.out)["tree_size"]
    assert forged_size > size
    result = invoke(["ledger", "verify"], env)
    assert result.code == 1, result.out + result.err
    assert f"checkpoint-{forged_size}.txt" in result.out
    assert "rotated out before it" in result.out and f"valid up to tree {size}" in result.out
    # an auditor's trust file says the same with its own words
    trust = desk["tmp"] / "trust"
    trust.write_text(f"log {rotation['old']} until-tree {size}\nlog {rotation['new']}\n")
    audited = invoke(["ledger", "verify", "--trust", str(trust)], env)
    assert audited.code == 1 and f"checkpoint-{forged_size}.txt" in audited.out
    # without the bound the forgery would pass: the old key's signature is good
    trust.write_text(f"log {rotation['old']}\nlog {rotation['new']}\n")
    assert invoke(["ledger", "verify", "--trust", str(trust)], env).code == 0


def test_after_a_rotation_no_file_of_the_desk_can_sign_as_the_old_key(desk, demo):
    home, env = desk["home"], desk["env"]
    old_private = (home / "keys" / "ledger.key").read_bytes()
    rotated = invoke(["keys", "rotate", "--json"], env)
    assert rotated.code == 0, rotated.err
    rotation = json.loads(rotated.out)
    retired = Path(rotation["retired"])
    assert retired.name.endswith(".retired.pub") and rotation["old"] in retired.read_text()
    # The insider who arrives after the rotation finds no copy of the old key to
    # back-date checkpoints with: every file in the desk's home is searched.
    for path in home.rglob("*"):
        if path.is_file():
            assert old_private not in path.read_bytes(), path
    keys = list((home / "keys").glob("*.key"))
    assert keys and all(load_key(k).verifier_key != rotation["old"] for k in keys
                        if k.name != "redaction.key")
    # and the retired public half still verifies the checkpoints it signed
    assert invoke(["ledger", "verify"], env).code == 0


def test_archive_verify_bounds_a_log_key_by_its_until_tree(desk):
    home = desk["home"]
    (archive,) = (home / "archives").glob("*.tar.zst")
    key = (home / "keys" / "ledger.pub").read_text().strip()
    (published,) = (home / "archives").glob("checkpoint-*.txt")
    tree = int(published.stem.split("-")[1])
    trust = desk["tmp"] / "trust"
    trust.write_text(f"log {key} until-tree {tree}\n")
    ok = invoke(["archive", "verify", str(archive), "--trust", str(trust)], {})
    assert ok.code == 0, ok.out
    trust.write_text(f"log {key} until-tree {tree - 1}\n")  # rotated out one event earlier
    refused = invoke(["archive", "verify", str(archive), "--trust", str(trust)], {})
    assert refused.code == 1
    assert f"of tree {tree} is signed only by a key rotated out before it" in refused.out
    trust.write_text(f"log {key} until-tree many\n")
    bad = invoke(["archive", "verify", str(archive), "--trust", str(trust)], {})
    assert bad.code == 2 and len(bad.error_lines) == 1 and "until-tree N" in bad.err


def test_a_trust_file_that_trusts_nothing_or_is_endless_is_refused(desk):
    """An empty (or comment-only) trust file names no log key: it must not pass as
    trusting the desk's own; a trust file is read only up to its cap (/dev/zero
    ended the process out of memory); a bad `log` value names its line."""
    env = desk["env"]
    (archive,) = (desk["home"] / "archives").glob("*.tar.zst")
    trust = desk["tmp"] / "trust"
    for text in ("", "# nothing here\n\n"):
        trust.write_text(text)
        for argv in (["ledger", "verify"], ["archive", "verify", str(archive)]):
            r = invoke([*argv, "--trust", str(trust)], env)
            assert r.code == 2 and len(r.error_lines) == 1 and "no log key" in r.err, r.err
    r = invoke(["ledger", "verify", "--trust", "/dev/zero"], env)
    assert r.code == 2 and len(r.error_lines) == 1 and "cap" in r.err, r.err
    trust.write_text("log garbage\n")
    r = invoke(["ledger", "verify", "--trust", str(trust)], env)
    assert r.code == 2 and f"--trust {trust} line 1" in r.err, r.err
