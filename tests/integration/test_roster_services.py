"""services/roster.py over a real SQLite store: what the roster commands print comes
from these documents (the CLI only renders them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirunner import key_file, public_key_file
from opsledger.adapters.ssh_signing import FileKeySigner
from opsledger.domain.errors import NotAuthorised
from opsledger.domain.roster_keys import InvalidKey, SelfKeyRegistration
from opsledger.domain.roster_proposals import ProposerCannotConfirm
from opsledger.domain.runbook import Role
from opsledger.services.bootstrap import Services
from opsledger.services.errors import InvalidRequest
from opsledger.services.roster import (
    add_key,
    allowed_signers,
    confirm_proposal,
    found_roster,
    grant_roles,
    read_public_key,
    revoke_key,
    revoke_roles,
    roster_history,
    roster_keys,
    roster_proposals,
)
from opsledger.services.settings import Settings
from sshkeys import write_key_file

ADMIN = "root.admin"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings.from_env(environ={"OPSLEDGER_HOME": str(tmp_path / "home"),
                                          "OPSLEDGER_ACTOR": ADMIN})
    services = Services(settings)
    yield services
    services.close()


def pub_file(tmp_path: Path, name: str, kind: str = "ed25519") -> Path:
    return write_key_file(tmp_path / name, kind).with_name(name + ".pub")


def sign_with(services: Services, private_key: Path) -> None:
    """Every recording call is signed (issue 12): from now on with this key."""
    services.act_as(FileKeySigner(private_key))


def with_key(services: Services, person: str) -> None:
    """The administrator registers `person`'s own key; then `person` signs."""
    add_key(services, person, public_key_file(person).read_text(), actor=ADMIN, reason="issued")
    sign_with(services, key_file(person))


def test_a_public_key_file_gives_its_key_line(tmp_path):
    path = pub_file(tmp_path, "id_bob")
    assert read_public_key(path) == path.read_text().strip()
    commented = tmp_path / "commented.pub"
    commented.write_text("# bob's laptop\n\n" + path.read_text())
    assert read_public_key(commented) == path.read_text().strip()
    for content in (b"", b"# nothing\n", b"\xff\xfe", b"x" * 17000):
        (tmp_path / "bad.pub").write_bytes(content)
        with pytest.raises(InvalidRequest):
            read_public_key(tmp_path / "bad.pub")


def test_keys_are_added_listed_and_revoked(services, tmp_path):
    root_pub = read_public_key(pub_file(tmp_path, "id_root"))
    sign_with(services, tmp_path / "id_root")  # the founder signs with the key founded
    found_roster(services, administrator=ADMIN, actor=ADMIN, reason="desk set up",
                 public_key=root_pub)
    bob = read_public_key(pub_file(tmp_path, "id_bob", "ecdsa-256"))
    added = add_key(services, "bob.risk", bob, actor=ADMIN, reason="issued")
    assert added.recorded and added.fingerprint.startswith("SHA256:")
    again = add_key(services, "bob.risk", bob, actor=ADMIN, reason="issued")
    assert (again.recorded, again.fingerprint) == (False, added.fingerprint)
    with pytest.raises(SelfKeyRegistration):
        add_key(services, ADMIN, read_public_key(pub_file(tmp_path, "id_spare")), actor=ADMIN,
                reason="spare")
    with pytest.raises(InvalidKey):
        add_key(services, "bob.risk", read_public_key(pub_file(tmp_path, "id_rsa", "rsa")),
                actor=ADMIN, reason="old key")

    doc = roster_keys(services)
    assert doc["version"] == 2
    assert [(k["person"], k["key_type"], k["valid_before"]) for k in doc["keys"]] == [
        (ADMIN, "ssh-ed25519", None), ("bob.risk", "ecdsa-sha2-nistp256", None)]
    assert doc["keys"][0]["public_key"] == " ".join(root_pub.split()[:2])

    assert revoke_key(services, "bob.risk", added.fingerprint, actor=ADMIN,
                      reason="lost laptop").recorded
    assert not revoke_key(services, "bob.risk", added.fingerprint, actor=ADMIN,
                          reason="again").recorded
    (_, bobs) = roster_keys(services)["keys"]
    assert bobs["valid_before"] is not None and bobs["revoked_by"] == ADMIN
    # The roster as it stood before the revocation: bob's key open-ended.
    assert roster_keys(services, at_version=2)["keys"][1]["valid_before"] is None

    history = roster_history(services)
    assert [(h["change"], h["person"], h["role"], h["detail"]) for h in history] == [
        ("founded", ADMIN, Role.ADMINISTRATOR, None),
        ("key added", "bob.risk", None, added.fingerprint),
        ("key revoked", "bob.risk", None, added.fingerprint),
    ]


def test_allowed_signers_has_one_line_per_key_with_its_window(services, tmp_path, monkeypatch):
    sign_with(services, write_key_file(tmp_path / "id_root", "ed25519"))
    found_roster(services, administrator=ADMIN, actor=ADMIN, reason="desk set up",
                 public_key=read_public_key(tmp_path / "id_root.pub"))
    times = iter([datetime(2026, 12, 6, 9, 0, 0, 500_000, tzinfo=UTC),
                  datetime(2026, 12, 6, 17, 30, tzinfo=UTC)])
    monkeypatch.setattr("opsledger.domain.roster.utcnow", lambda: next(times))
    bob = read_public_key(pub_file(tmp_path, "id_bob"))
    fp = add_key(services, "bob.risk", bob, actor=ADMIN, reason="issued").fingerprint
    revoke_key(services, "bob.risk", fp, actor=ADMIN, reason="lost laptop")
    now = allowed_signers(services)
    assert now.version == 3
    bob_line, root_line = now.text.splitlines()
    assert bob_line == ('bob.risk namespaces="opsledger",valid-after="20261206090001Z",'
                        f'valid-before="20261206172959Z" {" ".join(bob.split()[:2])}')
    assert root_line.startswith(f'{ADMIN} namespaces="opsledger",valid-after="')
    assert "valid-before" not in root_line
    then = allowed_signers(services, at_version=2)
    assert then.version == 2 and "valid-before" not in then.text
    assert [line.split()[0] for line in then.text.splitlines()] == ["bob.risk", ADMIN]
    assert allowed_signers(services, at_version=1).text.count("\n") == 1


def test_grants_that_need_a_second_administrator_are_proposals(services):
    sign_with(services, key_file(ADMIN))  # founding makes the signing key ADMIN's first
    found_roster(services, administrator=ADMIN, actor=ADMIN, reason="desk set up")
    seen = []
    changes = grant_roles(services, "ann", [Role.ADMINISTRATOR], actor=ADMIN,
                          reason="second admin", progress=seen.append)
    assert seen == changes and changes[0].recorded and changes[0].proposal == "P2"
    direct = grant_roles(services, "bob.risk", [Role.RISK_OFFICER], actor=ADMIN, reason="rota")
    assert direct[0].recorded and direct[0].proposal is None
    doc = roster_proposals(services)
    assert doc["proposals"] == [{
        "id": "P2", "person": "ann", "role": "administrator", "change": "grant",
        "proposer": ADMIN, "reason": "second admin", "status": "pending", "confirmed_by": None,
    }]
    with pytest.raises(ProposerCannotConfirm):
        confirm_proposal(services, "P2", actor=ADMIN, reason="me")
    with_key(services, "bob.risk")  # bob signs as himself: he is no administrator
    with pytest.raises(NotAuthorised, match="only an administrator may confirm"):
        confirm_proposal(services, "P2", actor="bob.risk", reason="me")


def test_a_confirmation_applies_the_proposal(services):
    sign_with(services, key_file(ADMIN))
    found_roster(services, administrator=ADMIN, actor=ADMIN, reason="desk set up")
    roster = services.app.get_roster()  # a store from before four eyes had two admins
    roster._grant(person="ann", role=Role.ADMINISTRATOR, actor=ADMIN, reason="before")
    roster._grant(person="cid", role=Role.ADMINISTRATOR, actor=ADMIN, reason="before")
    services.app.save(roster)
    add_key(services, "ann", public_key_file("ann").read_text(), actor=ADMIN, reason="issued")
    (change,) = revoke_roles(services, "cid", [Role.ADMINISTRATOR], actor=ADMIN, reason="left")
    sign_with(services, key_file("ann"))  # ann, the other administrator, confirms
    done = confirm_proposal(services, change.proposal, actor="ann", reason="agreed")
    assert (done["status"], done["confirmed_by"], done["change"]) == ("applied", "ann", "revoke")
    assert services.app.get_roster().holders(Role.ADMINISTRATOR) == ["ann", ADMIN]
    assert roster_proposals(services, pending_only=True)["proposals"] == []
    assert [h["change"] for h in roster_history(services)][-2:] == ["proposed", "confirmed"]
    assert roster_history(services)[-1]["detail"] == f"{change.proposal}: revoke"
