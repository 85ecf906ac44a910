"""`opsledger roster`: the desk's administrator keeps who holds which role."""

from __future__ import annotations

import json

from clirunner import invoke

ARTIFACT = "sha256:" + "ab" * 32


def ol(cli_env, *argv: str, actor: str = "root.admin"):
    return invoke(["--actor", actor, *argv], cli_env)


def test_an_administrator_founds_the_roster_and_grants_roles(cli_env):
    r = ol(cli_env, "roster", "show")
    assert r.code == 2 and r.error_lines == ["opsledger: error: roster: no roster has been founded yet"]
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


def test_nobody_grants_themselves_and_only_administrators_grant(cli_env):
    ol(cli_env, "roster", "init")
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
    assert json.loads(ol(cli_env, "roster", "show", "--json").out)["version"] == 1


def test_revocation_takes_effect_at_once_and_history_keeps_every_change(cli_env, tmp_path):
    ol(cli_env, "roster", "init")
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
    assert r.code == 2 and "only 3 versions" in r.err

    history = json.loads(ol(cli_env, "roster", "history", "--json").out)
    assert [(h["change"], h["person"], h["role"], h["actor"], h["reason"]) for h in history] == [
        ("founded", "root.admin", "administrator", "root.admin", "roster founded"),
        ("granted", "bob.risk", "risk-officer", "root.admin", "rota"),
        ("revoked", "bob.risk", "risk-officer", "root.admin", "left the desk"),
    ]
    # The evidence bob attached while he held the role stands, with the version that allowed it.
    shown = json.loads(ol(cli_env, "ticket", "show", "CHG-1", "--json").out)
    assert [e["actor"] for e in shown["evidence"]["risk-envelope"]] == ["bob.risk"]


def test_the_audit_replays_what_was_recorded(cli_env, tmp_path):
    ol(cli_env, "roster", "init")
    ol(cli_env, "roster", "grant", "bob.risk", "risk-officer", "--reason", "rota")
    evidence = tmp_path / "limits.yaml"
    evidence.write_text("max_notional: 5e6\n")
    ol(cli_env, "ticket", "open", "CHG-1", "--strategy", "s", "--artifact", ARTIFACT,
       actor="alice.rm")
    assert ol(cli_env, "evidence", "attach", "CHG-1", "risk-envelope", str(evidence),
              actor="bob.risk").code == 0
    assert ol(cli_env, "approve", "CHG-1", "risk-signoff", actor="bob.risk").code == 0
    r = ol(cli_env, "roster", "audit", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"checked": 2, "ok": True, "findings": []}
    r = ol(cli_env, "roster", "audit")
    assert r.out.strip() == "2 roster-checked events replayed: all allowed by the roster they name"
