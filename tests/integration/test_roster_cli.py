"""`opsledger roster`: the desk's administrator keeps who holds which role."""

from __future__ import annotations

import json
from pathlib import Path

from clirunner import invoke, key_file, public_key_file
from opsledger.domain.runbook import Role
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings
from sshkeys import write_key_file

ARTIFACT = "sha256:" + "ab" * 32


def ol(cli_env, *argv: str, actor: str = "root.admin"):
    return invoke(["--actor", actor, *argv], cli_env)


def add_keys(cli_env, *people: str) -> None:
    """The administrator registers each person's own key: whoever signs a command
    must hold a key in the roster before the roster's rules are even asked."""
    for person in people:
        r = ol(cli_env, "roster", "key", "add", person, str(public_key_file(person)),
               "--reason", "issued")
        assert r.code == 0, r.err


def test_an_administrator_founds_the_roster_and_grants_roles(cli_env):
    r = ol(cli_env, "roster", "show")
    if "OPSLEDGER_DATABASE_URL" in cli_env:
        assert r.code == 2 and r.error_lines == ["opsledger: error: roster: no roster has been founded yet"]
    else:  # issue 15: reading never creates the embedded store; it says there is none
        assert r.code == 3 and r.error_lines[0].startswith("opsledger: error: no event store at ")
    assert ol(cli_env, "roster", "init").code == 0
    r = ol(cli_env, "roster", "init", actor="mallory")
    assert r.code == 1 and "founded before" in r.err

    r = ol(cli_env, "roster", "grant", "bob.risk", "risk-officer", "operator", "--reason", "rota")
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["bob.risk: risk-officer granted by root.admin",
                                  "bob.risk: operator granted by root.admin"]
    r = ol(cli_env, "roster", "grant", "bob.risk", "risk-officer", "--reason", "again")
    assert r.code == 0 and "already holds risk-officer; nothing recorded" in r.out

    doc = json.loads(ol(cli_env, "roster", "show", "--json").out)
    assert doc == {"version": 3, "people": {"bob.risk": ["operator", "risk-officer"],
                                            "root.admin": ["administrator"]}}
    # signed with the key alone (no --actor): the line names the key's holder, not "None"
    r = invoke(["roster", "grant", "carol.eng", "engineer", "--reason", "retros"],
               {**{k: v for k, v in cli_env.items() if k != "OPSLEDGER_ACTOR"},
                "OPSLEDGER_IDENTITY": str(key_file("root.admin"))})
    assert r.code == 0 and r.out.splitlines() == ["carol.eng: engineer granted by root.admin"]
    assert ol(cli_env, "roster", "revoke", "carol.eng", "engineer", "--reason", "left").code == 0


def test_nobody_grants_themselves_and_only_administrators_grant(cli_env):
    ol(cli_env, "roster", "init")
    add_keys(cli_env, "bob.risk")  # bob signs as himself, and is no administrator
    r = ol(cli_env, "roster", "grant", "root.admin", "risk-officer", "--reason", "short-staffed")
    assert r.code == 1
    assert r.error_lines == ["opsledger: error: root.admin: an administrator cannot grant a "
                             "role to themselves; ask another"]
    r = ol(cli_env, "roster", "grant", "bob.risk", "risk-officer", "--reason", "I say so",
           actor="bob.risk")
    assert r.code == 1 and "only an administrator may grant roles" in r.err
    r = ol(cli_env, "roster", "grant", "bob risk", "risk-officer", "--reason", "x")
    assert r.code == 2 and "not a person's name" in r.err
    r = ol(cli_env, "roster", "grant", "bob.risk", "risk-officer")
    assert r.code == 2 and "--reason" in r.err
    r = ol(cli_env, "roster", "grant", "bob.risk", "chief", "--reason", "x")
    assert r.code == 2
    # founded, bob's key: no refused grant recorded anything
    assert json.loads(ol(cli_env, "roster", "show", "--json").out)["version"] == 2


def test_revocation_takes_effect_at_once_and_history_keeps_every_change(cli_env, tmp_path):
    ol(cli_env, "roster", "init")
    add_keys(cli_env, "alice.rm", "bob.risk")
    # opening a ticket takes a role too (issue 12): alice opens it as the Release Manager
    ol(cli_env, "roster", "grant", "alice.rm", "release-manager", "--reason", "rota")
    ol(cli_env, "roster", "grant", "bob.risk", "risk-officer", "--reason", "rota")
    evidence = tmp_path / "limits.yaml"
    evidence.write_text("max_notional: 5e6\n")
    assert ol(cli_env, "ticket", "open", "CHG-1", "--strategy", "s", "--artifact", ARTIFACT,
              actor="alice.rm").code == 0
    r = ol(cli_env, "evidence", "attach", "CHG-1", "risk-envelope", str(evidence),
           actor="bob.risk")
    assert r.code == 0, r.err
    version_then = json.loads(ol(cli_env, "roster", "show", "--json").out)["version"]

    r = ol(cli_env, "roster", "revoke", "bob.risk", "risk-officer", "--reason", "left the desk")
    assert r.code == 0 and r.out.strip() == "bob.risk: risk-officer revoked by root.admin"
    r = ol(cli_env, "approve", "CHG-1", "risk-signoff", actor="bob.risk")
    assert r.code == 1 and "the roster grants bob.risk no role" in r.err
    r = ol(cli_env, "roster", "revoke", "bob.risk", "risk-officer", "--reason", "again")
    assert r.code == 0 and "does not hold risk-officer; nothing recorded" in r.out

    then = json.loads(ol(cli_env, "roster", "show", "--at-version", str(version_then),
                         "--json").out)
    assert then["people"]["bob.risk"] == ["risk-officer"]
    r = ol(cli_env, "roster", "show", "--at-version", "99")
    assert r.code == 2 and "only 6 versions" in r.err

    history = json.loads(ol(cli_env, "roster", "history", "--json").out)
    assert [(h["change"], h["person"], h["role"], h["actor"], h["reason"]) for h in history] == [
        ("founded", "root.admin", "administrator", "root.admin", "roster founded"),
        ("key added", "alice.rm", None, "root.admin", "issued"),
        ("key added", "bob.risk", None, "root.admin", "issued"),
        ("granted", "alice.rm", "release-manager", "root.admin", "rota"),
        ("granted", "bob.risk", "risk-officer", "root.admin", "rota"),
        ("revoked", "bob.risk", "risk-officer", "root.admin", "left the desk"),
    ]
    # The evidence bob attached while he held the role stands, with the version that allowed it.
    shown = json.loads(ol(cli_env, "ticket", "show", "CHG-1", "--json").out)
    assert [e["actor"] for e in shown["evidence"]["risk-envelope"]] == ["bob.risk"]


def test_the_audit_replays_what_was_recorded(cli_env, tmp_path):
    ol(cli_env, "roster", "init")
    add_keys(cli_env, "alice.rm", "bob.risk")
    ol(cli_env, "roster", "grant", "alice.rm", "release-manager", "--reason", "rota")
    ol(cli_env, "roster", "grant", "bob.risk", "risk-officer", "--reason", "rota")
    evidence = tmp_path / "limits.yaml"
    evidence.write_text("max_notional: 5e6\n")
    assert ol(cli_env, "ticket", "open", "CHG-1", "--strategy", "s", "--artifact", ARTIFACT,
              actor="alice.rm").code == 0
    assert ol(cli_env, "evidence", "attach", "CHG-1", "risk-envelope", str(evidence),
              actor="bob.risk").code == 0
    assert ol(cli_env, "approve", "CHG-1", "risk-signoff", actor="bob.risk").code == 0
    r = ol(cli_env, "roster", "audit", "--json")
    assert r.code == 0, r.err
    # issue 12: the audit replays every event's signature as well (keys added from .pub
    # files, comments and all, are recorded as signed)
    assert json.loads(r.out) == {"checked": 2, "ok": True, "findings": [],
                                 "signatures": {"events": 8, "unsigned": 0, "findings": []}}
    r = ol(cli_env, "roster", "audit")
    assert r.out.splitlines() == [
        "2 roster-checked events replayed: all allowed by the roster they name",
        "8 events' signatures replayed: 8 signed, all hold"]


# --- issue 12: keys, four eyes, allowed-signers -------------------------------------


def pub_file(tmp_path: Path, name: str, kind: str = "ed25519") -> Path:
    return write_key_file(tmp_path / name, kind).with_name(name + ".pub")


def legacy_administrators(cli_env, *names: str) -> None:
    """Administrators appointed in a store written before four eyes (plain RoleGranted
    events), each then given their own key by the founder so that they can sign."""
    services = Services(Settings.from_env(environ=cli_env))
    try:
        roster = services.app.get_roster()
        for name in names:
            roster._grant(person=name, role=Role.ADMINISTRATOR, actor="root.admin",
                          reason="before four eyes")
        services.app.save(roster)
    finally:
        services.close()
    add_keys(cli_env, *names)


def test_every_roster_command_has_help(cli_env):
    for argv in (["init"], ["grant"], ["revoke"], ["confirm"], ["proposals"], ["key"],
                 ["key", "add"], ["key", "revoke"], ["keys"], ["allowed-signers"]):
        r = invoke(["roster", *argv, "--help"], cli_env)
        assert r.code == 0 and "Usage: opsledger roster" in r.out, argv


def test_keys_are_added_listed_and_revoked_by_an_administrator(cli_env, tmp_path):
    bob = public_key_file("bob.risk")  # the key bob signs with: his refused add is his own
    assert ol(cli_env, "roster", "init").code == 0
    r = ol(cli_env, "roster", "key", "add", "bob.risk", str(bob), "--reason", "issued")
    assert r.code == 0, r.err
    fp = r.out.split()[2]
    assert r.out.strip() == f"bob.risk: key {fp} added by root.admin" and fp.startswith("SHA256:")
    r = ol(cli_env, "roster", "key", "add", "bob.risk", str(bob), "--reason", "again")
    assert r.code == 0 and r.out.strip() == f"bob.risk: already holds key {fp}; nothing recorded"
    r = ol(cli_env, "roster", "key", "add", "carol", str(bob), "--reason", "shared laptop")
    assert r.code == 1 and len(r.error_lines) == 1 and "is bob.risk's" in r.err
    r = ol(cli_env, "roster", "key", "add", "carol", str(pub_file(tmp_path, "c")),
           "--reason", "x", actor="bob.risk")
    assert r.code == 1 and "only an administrator may add keys" in r.err

    doc = json.loads(ol(cli_env, "roster", "keys", "--json").out)
    bobs = [k for k in doc["keys"] if k["person"] == "bob.risk"]
    assert [(k["fingerprint"], k["valid_before"]) for k in bobs] == [(fp, None)]
    assert fp in ol(cli_env, "roster", "keys").out

    r = ol(cli_env, "roster", "key", "revoke", "bob.risk", fp, "--reason", "lost laptop")
    assert r.code == 0 and r.out.strip() == f"bob.risk: key {fp} revoked by root.admin"
    r = ol(cli_env, "roster", "key", "revoke", "bob.risk", fp, "--reason", "again")
    assert r.code == 0 and "was revoked before; nothing recorded" in r.out
    doc = json.loads(ol(cli_env, "roster", "keys", "--json").out)
    assert [k["valid_before"] is not None for k in doc["keys"] if k["fingerprint"] == fp] == [True]
    history = json.loads(ol(cli_env, "roster", "history", "--json").out)
    assert [(h["change"], h["detail"]) for h in history if h["person"] == "bob.risk"] == [
        ("key added", fp), ("key revoked", fp)]


def test_bad_keys_and_fingerprints_are_one_line_exit_2(cli_env, tmp_path):
    ol(cli_env, "roster", "init")
    rsa = pub_file(tmp_path, "id_rsa", "rsa")
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("ssh-ed25519 not!base64\n")
    for argv in (["key", "add", "bob.risk", str(rsa)], ["key", "add", "bob.risk", str(garbage)],
                 ["key", "add", "bob.risk", str(tmp_path / "missing.pub")],
                 ["key", "add", "bob risk", str(pub_file(tmp_path, "b"))],
                 ["key", "revoke", "bob.risk", "SHA256:" + "A" * 43],
                 ["keys", "--at-version", "9"], ["allowed-signers", "--at-version", "9"]):
        r = ol(cli_env, "roster", *argv, *(["--reason", "x"] if argv[0] == "key" else []))
        assert r.code == 2 and len(r.error_lines) == 1, (argv, r.err)
    r = ol(cli_env, "roster", "key", "add", "bob.risk", str(rsa), "--reason", "x")
    assert "ssh-rsa keys are not accepted" in r.err


def test_administrator_changes_are_proposed_and_confirmed_by_another(cli_env):
    ol(cli_env, "roster", "init")
    legacy_administrators(cli_env, "ann.admin", "cid.admin")
    r = ol(cli_env, "roster", "grant", "alice2", "administrator", "--reason", "my spare")
    assert r.code == 0, r.err
    proposal = r.out.split()[-1]
    assert r.out.strip() == (f"alice2: administrator grant proposed (needs a second "
                             f"administrator): {proposal}")
    doc = json.loads(ol(cli_env, "roster", "proposals", "--json").out)
    assert [(p["id"], p["status"], p["person"], p["proposer"]) for p in doc["proposals"]] == [
        (proposal, "pending", "alice2", "root.admin")]
    assert "administrator" not in json.loads(
        ol(cli_env, "roster", "show", "--json").out)["people"].get("alice2", [])

    r = ol(cli_env, "roster", "confirm", proposal, "--reason", "obviously")
    assert r.code == 1 and len(r.error_lines) == 1 and "a different administrator" in r.err
    r = ol(cli_env, "roster", "confirm", proposal, "--reason", "checked", actor="ann.admin")
    assert r.code == 0, r.err
    assert r.out.strip() == (f"alice2: administrator granted ({proposal} proposed by root.admin, "
                             "confirmed by ann.admin)")
    r = ol(cli_env, "roster", "confirm", proposal, "--reason", "again", actor="cid.admin")
    assert r.code == 1 and "already confirmed" in r.err
    r = ol(cli_env, "roster", "confirm", "P99", "--reason", "?", actor="cid.admin")
    assert r.code == 1 and "no such proposal" in r.err
    r = ol(cli_env, "roster", "confirm", proposal, actor="cid.admin")
    assert r.code == 2 and "--reason" in r.err
    people = json.loads(ol(cli_env, "roster", "show", "--json").out)["people"]
    assert people["alice2"] == ["administrator"]
    assert ol(cli_env, "roster", "proposals", "--pending", "--json").out.count('"id"') == 0
    assert proposal in ol(cli_env, "roster", "proposals").out


def test_allowed_signers_prints_one_line_per_key(cli_env, tmp_path):
    root, bob = pub_file(tmp_path, "id_root"), pub_file(tmp_path, "id_bob")
    # root.admin founds with the key in id_root, so that key signs his commands (issue 12)
    cli_env = {**cli_env, "OPSLEDGER_IDENTITY": str(root.with_suffix(""))}
    assert ol(cli_env, "roster", "init", "--admin", "root.admin", "--key", str(root)).code == 0
    ol(cli_env, "roster", "key", "add", "bob.risk", str(bob), "--reason", "issued")
    r = ol(cli_env, "roster", "allowed-signers")
    assert r.code == 0, r.err
    lines = [line for line in r.out.splitlines() if line.split()[-1] in
             (bob.read_text().split()[1], root.read_text().split()[1])]
    assert [line.split()[0] for line in lines] == ["bob.risk", "root.admin"]
    assert all(' namespaces="opsledger",valid-after="' in line for line in lines)
    doc = json.loads(ol(cli_env, "roster", "allowed-signers", "--json").out)
    assert doc["allowed_signers"] == r.out
    then = ol(cli_env, "roster", "allowed-signers", "--at-version", "1").out
    assert "bob.risk" not in then and root.read_text().split()[1] in then
