"""The roster's SSH keys: who signs with which key, and when (issue 12)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from opsledger.domain.application import OpsLedger
from opsledger.domain.errors import InvalidInput, NotAuthorised, NotFound, ReasonRequired
from opsledger.domain.roster import Roster, RosterHistory, roster_id
from opsledger.domain.roster_keys import (
    InvalidKey,
    KeyHeldByAnother,
    KeyNotFound,
    KeyNotValid,
    KeyRecord,
    RevokedKeyReused,
    SelfKeyRegistration,
    allowed_signers,
)
from opsledger.domain.runbook import Role
from opsledger.domain.sshsig import parse_public_key_line
from sshkeys import SoftwareSkSigner, private_key


@pytest.fixture
def app() -> OpsLedger:
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.found_roster(administrator="root", actor="root", reason="desk set up",
                     public_key=pub("ed25519"))
    return app


def pub(kind: str = "ed25519", comment: str = "laptop@desk") -> str:
    if kind.startswith("sk-"):
        return SoftwareSkSigner(kind[3:]).public_key_line + f" {comment}"
    key = private_key(kind).public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}"


def blob(line: str) -> bytes:
    return base64.b64decode(line.split()[1])


def add(app: OpsLedger, person: str, line: str, actor: str = "root") -> str:
    return app.add_key(person, public_key=line, actor=actor, reason="issued by the desk")


def test_a_person_holds_several_keys_of_the_accepted_types(app):
    lines = [pub(k) for k in ("ed25519", "ecdsa-256", "ecdsa-384", "ecdsa-521",
                              "sk-ed25519", "sk-ecdsa")]
    fingerprints = [add(app, "bob.risk", line) for line in lines]
    roster = app.get_roster()
    held = roster.keys_of("bob.risk")
    assert sorted(k.fingerprint for k in held) == sorted(fingerprints)
    assert {k.key_type for k in held} == {
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
    assert all(roster.person_of_key(fp) == "bob.risk" for fp in fingerprints)
    # The key is stored as its OpenSSH line without the comment (a comment is no identity).
    event = app.roster_events()[-1]
    assert isinstance(event, Roster.KeyAdded)
    assert event.public_key == " ".join(lines[-1].split()[:2])
    assert event.fingerprint == parse_public_key_line(lines[-1]).fingerprint
    assert event.valid_after <= event.timestamp
    assert roster.person_of_key("SHA256:" + "A" * 43) is None


def test_rsa_and_malformed_keys_are_refused_as_bad_input(app):
    version = app.get_roster().version
    with pytest.raises(InvalidKey, match="ssh-rsa keys are not accepted"):
        add(app, "bob.risk", pub("rsa"))
    for bad in ("ssh-ed25519 not-base64!", "ssh-ed25519", "ecdsa-sha2-nistp256 " + pub().split()[1],
                "ssh-dss AAAAB3NzaC1kc3MAAACBAP"):
        with pytest.raises(InvalidKey):
            add(app, "bob.risk", bad)
    assert issubclass(InvalidKey, InvalidInput)  # the CLI's exit 2
    assert app.get_roster().version == version


def test_only_an_administrator_adds_or_revokes_keys_and_says_why(app):
    line = pub()
    with pytest.raises(NotAuthorised, match="only an administrator may add keys"):
        add(app, "bob.risk", line, actor="bob.risk")
    fp = add(app, "bob.risk", line)
    with pytest.raises(NotAuthorised, match="only an administrator may revoke keys"):
        app.revoke_key("bob.risk", fingerprint=fp, actor="bob.risk", reason="lost laptop")
    with pytest.raises(ReasonRequired):
        app.add_key("carol", public_key=pub(), actor="root", reason=" ")
    with pytest.raises(InvalidInput, match="person"):
        add(app, "carol smith", pub())


def test_a_key_belongs_to_one_person_only_and_a_revoked_key_never_returns(app):
    line = pub("ecdsa-256")
    fp = add(app, "bob.risk", line)
    version = app.get_roster().version
    assert add(app, "bob.risk", line.replace("laptop@desk", "other comment")) == fp
    assert app.get_roster().version == version  # already held: nothing recorded
    with pytest.raises(KeyHeldByAnother, match="is bob.risk's"):
        add(app, "carol", line)
    assert app.revoke_key("bob.risk", fingerprint=fp, actor="root", reason="lost laptop")
    assert not app.revoke_key("bob.risk", fingerprint=fp, actor="root", reason="again")
    with pytest.raises(RevokedKeyReused):
        add(app, "bob.risk", line)
    with pytest.raises(KeyHeldByAnother):
        add(app, "carol", line)
    assert app.get_roster().person_of_key(fp) == "bob.risk"  # it held the key; it still did


def test_revoking_names_a_key_the_person_holds(app):
    fp = add(app, "bob.risk", pub())
    with pytest.raises(KeyNotFound):
        app.revoke_key("carol", fingerprint=fp, actor="root", reason="x")
    with pytest.raises(KeyNotFound):
        app.revoke_key("bob.risk", fingerprint="SHA256:" + "B" * 43, actor="root", reason="x")
    assert issubclass(KeyNotFound, NotFound)


def test_authenticate_compares_key_blobs_inside_their_windows(app):
    line, other = pub(), pub()
    fp = add(app, "bob.risk", line)
    roster = app.get_roster()
    record = roster.keys_of("bob.risk")[0]
    now = datetime.now(UTC)
    roster.authenticate("bob.risk", blob(line), now)
    with pytest.raises(KeyNotValid, match="added after"):
        roster.authenticate("bob.risk", blob(line), record.valid_after - timedelta(microseconds=1))
    with pytest.raises(KeyNotValid, match="is bob.risk's, not carol's"):
        roster.authenticate("carol", blob(line), now)
    with pytest.raises(KeyNotValid, match="not in the roster"):
        roster.authenticate("bob.risk", blob(other), now)
    assert issubclass(KeyNotValid, NotAuthorised)

    app.revoke_key("bob.risk", fingerprint=fp, actor="root", reason="lost laptop")
    roster = app.get_roster()
    (record,) = roster.keys_of("bob.risk")
    assert record.revoked and record.revoked_by == "root"
    # What it signed before the revocation still verifies; nothing after does.
    roster.authenticate("bob.risk", blob(line), record.valid_before - timedelta(microseconds=1))
    with pytest.raises(KeyNotValid, match="revoked before"):
        roster.authenticate("bob.risk", blob(line), record.valid_before)
    # The history answers the same, for an auditor replaying the archive.
    history = RosterHistory(app.roster_events())
    history.authenticate("bob.risk", blob(line), record.valid_after)
    assert history.person_of_key(fp) == "bob.risk"
    with pytest.raises(KeyNotValid):
        history.authenticate("bob.risk", blob(line), record.valid_before)


def test_a_recorded_fingerprint_is_not_trusted_over_the_key_itself(app):
    """Written around the application: a KeyAdded whose fingerprint names another key.
    authenticate compares the key blob, so the forged fingerprint lends nothing."""
    real, claimed = pub(), pub()
    roster = app.get_roster()
    roster._add_key(person="mallory", public_key=" ".join(real.split()[:2]),
                    key_type="ssh-ed25519", fingerprint=parse_public_key_line(claimed).fingerprint,
                    valid_after=datetime.now(UTC) - timedelta(hours=1), actor="root", reason="x")
    app.save(roster)
    with pytest.raises(KeyNotValid, match="not in the roster"):
        app.get_roster().authenticate("mallory", blob(claimed), datetime.now(UTC))


def test_the_founding_key_is_the_founders_first_key_from_the_founding(app):
    founded = app.roster_events()[0]
    (record,) = app.get_roster().keys_of("root")
    assert record.valid_after == founded.timestamp and record.added_by == "root"
    assert founded.public_key == record.public_key
    # A roster founded without a key stores the Founded event in its old shape.
    bare = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bare.found_roster(administrator="root", actor="root", reason="desk set up")
    (stored,) = bare.recorder.select_events(roster_id())
    assert set(json.loads(stored.state)) == {"administrator", "actor", "reason",
                                             "originator_topic", "timestamp"}
    with pytest.raises(InvalidKey):
        bare.found_roster(administrator="x", actor="x", reason="r", public_key=pub("rsa"))


def test_a_roster_without_keys_lets_its_administrator_register_their_own_first_key():
    """A store written before signing: nobody holds a key, so nobody could sign an
    administrator's adding one. The administrator registers their own, once; the
    command doing so is signed with that key, which proves they hold it."""
    app = OpsLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.found_roster(administrator="root", actor="root", reason="desk set up")
    app.grant_role("bob.risk", Role.RISK_OFFICER, actor="root", reason="rota")
    with pytest.raises(NotAuthorised):
        add(app, "bob.risk", pub(), actor="bob.risk")  # only an administrator, even then
    first = add(app, "root", pub(), actor="root")
    assert app.get_roster().person_of_key(first) == "root"
    with pytest.raises(SelfKeyRegistration, match="cannot add a key to themselves"):
        add(app, "root", pub(), actor="root")
    add(app, "bob.risk", pub(), actor="root")


def test_an_administrator_with_a_founding_key_adds_no_other_key_of_their_own(app):
    with pytest.raises(SelfKeyRegistration):
        add(app, "root", pub(), actor="root")


def test_allowed_signers_gives_openssh_only_whole_seconds_inside_each_window():
    line = pub()
    key = parse_public_key_line(line)
    t = datetime(2026, 12, 6, 9, 0, 0, 250_000, tzinfo=UTC)
    record = KeyRecord("bob.risk", key.line(comment=False), key.key_type, key.fingerprint, t,
                       "root")
    assert allowed_signers([record]) == (
        f'bob.risk namespaces="opsledger",valid-after="20261206090001Z" {key.line(False)}\n')
    # OpenSSH's valid-before is inclusive, the roster's exclusive.
    for before, printed in ((t.replace(hour=10, microsecond=0), "20261206095959Z"),
                            (t.replace(hour=10, microsecond=1), "20261206100000Z")):
        revoked = KeyRecord(**{**record.__dict__, "valid_before": before, "revoked_by": "root"})
        assert f'valid-before="{printed}"' in allowed_signers([revoked])
    # Revoked within the second it was added: no whole second to give; named in a comment.
    flash = KeyRecord(**{**record.__dict__, "valid_before": t + timedelta(milliseconds=500)})
    assert allowed_signers([flash]) == f"# bob.risk {key.fingerprint}: revoked within a second of being added\n"
