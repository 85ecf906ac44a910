"""Who did it, proven: attacks an insider with the desk's account would try.

Every story runs through the service layer exactly as the CLI does: each
recording call is a signed intent, checked by the application before it is
recorded. The keys are real ed25519 keys; OpenSSH judges the signatures in
tests/integration/test_roster_allowed_signers_openssh.py and the demo test.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from opsledger.adapters.ssh_signing import create_ed25519_key
from opsledger.domain.errors import (
    AlreadyExists,
    NotAuthorised,
    NotFound,
    SameSigner,
    SelfApproval,
)
from opsledger.domain.model import utcnow
from opsledger.domain.roster_keys import KeyHeldByAnother
from opsledger.domain.runbook import Approval, Env, Role
from opsledger.domain.signing import Intent, SignedIntent, SigningError
from opsledger.domain.sshsig import SshSignatureError
from opsledger.services.bootstrap import Services
from opsledger.services.settings import Settings

DIGEST = "sha256:" + "ab" * 32
SHA = "cd" * 32
PEOPLE = {"alice.rm": Role.RELEASE_MANAGER, "rita.rm": Role.RELEASE_MANAGER,
          "bob.risk": Role.RISK_OFFICER, "dave.dev": Role.DEV_LEAD}


@pytest.fixture
def desk(tmp_path: Path):
    """A desk founded by two administrators, each person with their own key."""
    services = Services(Settings(home=tmp_path / "home"))
    keys = {name: create_ed25519_key(tmp_path / "keys" / name)
            for name in ["root", "second", *PEOPLE]}

    def as_(person: str):
        services.act_as(keys[person])
        return services.app

    as_("root").found_roster(administrator="root", actor="root", reason="set up",
                             second_administrator="second",
                             second_public_key=keys["second"].public_key_line)
    for person, role in PEOPLE.items():
        as_("root").add_key(person, public_key=keys[person].public_key_line, actor="root",
                            reason="issued")
        as_("root").grant_role(person, role, actor="root", reason="rota")
    as_("dave.dev").open_ticket(key="CHG-1", strategy="momo-1", env=Env.PROD,
                                artifact_digest=DIGEST, actor="dave.dev", role=None)
    yield services, keys, as_
    services.close()


def test_every_event_is_signed_by_its_actor_with_their_key(desk):
    services, keys, as_ = desk
    as_("alice.rm").attach_evidence("CHG-1", check="approvals", path="a.md", sha256=SHA, size=1,
                                    actor=None, role=None)
    events = services.ledger_app.ticket_events("CHG-1")
    assert [e.signature.signer for e in events] == ["dave.dev", "alice.rm"]
    assert events[1].signature.key == keys["alice.rm"].fingerprint
    assert events[1].actor == "alice.rm"


def test_a_key_claiming_another_name_is_refused_and_records_nothing(desk):
    services, _, as_ = desk
    before = len(services.ledger_app.ticket_events("CHG-1"))
    with pytest.raises(NotAuthorised, match="alice.rm's, not bob.risk's"):
        as_("alice.rm").attach_evidence("CHG-1", check="prod-cutover", path="c.md", sha256=SHA,
                                        size=1, actor="bob.risk", role=Role.RISK_OFFICER)
    assert len(services.ledger_app.ticket_events("CHG-1")) == before


def test_one_person_with_one_key_cannot_pass_the_cutover_gate(desk):
    services, keys, as_ = desk
    alice = as_("alice.rm")
    alice.attach_evidence("CHG-1", check="prod-cutover", path="c.md", sha256=SHA, size=1,
                          actor=None, role=Role.RELEASE_MANAGER)
    # her key signs only as her: as Risk she holds no role, as herself it is the same signer
    with pytest.raises(NotAuthorised):
        alice.attach_evidence("CHG-1", check="prod-cutover", path="c.md", sha256=SHA, size=1,
                              actor=None, role=Role.RISK_OFFICER)
    # nor can her key be given to the risk officer's name
    with pytest.raises(KeyHeldByAnother):
        as_("root").add_key("bob.risk", public_key=keys["alice.rm"].public_key_line,
                            actor="root", reason="borrowed")
    decision, missing = as_("alice.rm").evaluate_gate("CHG-1", actor=None, role=None)
    assert decision == "no-go" and any("prod-cutover" in m for m in missing)


def test_the_same_person_cannot_sign_both_halves_of_the_cutover(desk):
    services, _, as_ = desk
    as_("root").grant_role("alice.rm", Role.RISK_OFFICER, actor="root", reason="cover")
    alice = as_("alice.rm")
    alice.attach_evidence("CHG-1", check="prod-cutover", path="c.md", sha256=SHA, size=1,
                          actor=None, role=Role.RELEASE_MANAGER)
    with pytest.raises(SameSigner):
        alice.attach_evidence("CHG-1", check="prod-cutover", path="c.md", sha256=SHA, size=1,
                              actor=None, role=Role.RISK_OFFICER)


def test_whoever_opened_a_change_cannot_approve_it(desk):
    _, _, as_ = desk
    as_("alice.rm").open_ticket(key="CHG-2", strategy="momo-1", env=Env.PROD,
                                artifact_digest=DIGEST, actor=None, role=None)
    with pytest.raises(SelfApproval):
        as_("alice.rm").approve("CHG-2", approval=Approval.CHANGE_TICKET, reference="r",
                                actor=None, role=None)
    as_("rita.rm").approve("CHG-2", approval=Approval.CHANGE_TICKET, reference="r",
                           actor=None, role=None)


def test_a_key_the_roster_does_not_hold_records_nothing(desk, tmp_path):
    services, _, _ = desk
    services.act_as(create_ed25519_key(tmp_path / "stranger"))
    with pytest.raises(NotAuthorised, match="not in the roster"):
        services.app.attach_evidence("CHG-1", check="approvals", path="a.md", sha256=SHA,
                                     size=1, actor=None, role=None)
    assert len(services.ledger_app.ticket_events("CHG-1")) == 1


def test_a_record_that_exists_is_named_as_such_not_as_a_stale_intent(desk):
    """Opening a ticket (or founding the roster) again signs the record's current
    version; the command says the record exists, records nothing, and is not
    re-signed as if the record had moved on."""
    services, _, as_ = desk
    before = len(services.ledger_app.ticket_events("CHG-1"))
    with pytest.raises(AlreadyExists, match="already open"):
        as_("dave.dev").open_ticket(key="CHG-1", strategy="momo-1", env=Env.PROD,
                                    artifact_digest=DIGEST, actor=None, role=None)
    assert len(services.ledger_app.ticket_events("CHG-1")) == before
    roster_version = services.ledger_app.target_version("roster:desk")
    with pytest.raises(AlreadyExists, match="founded before"):
        as_("root").found_roster(administrator="root", actor="root", reason="again")
    assert services.ledger_app.target_version("roster:desk") == roster_version


def _signed(services: Services, signer, **changes) -> SignedIntent:
    app = services.ledger_app
    intent = Intent(action="attach_evidence", target="ticket:CHG-1",
                    version=app.target_version("ticket:CHG-1"),
                    args={"key": "CHG-1", "check": "approvals", "path": "a.md", "sha256": SHA,
                          "size": 1, "role": None},
                    signer="alice.rm", at=utcnow())
    intent = intent.model_copy(update=changes)
    payload = intent.to_bytes()
    return SignedIntent(payload, signer.sign(payload))


def test_forged_replayed_or_stale_intents_are_refused(desk):
    services, keys, as_ = desk
    app = services.ledger_app
    good = _signed(services, keys["alice.rm"])
    # a flipped byte in the signed bytes: the signature no longer holds
    tampered = SignedIntent(good.payload.replace(b"a.md", b"b.md"), good.signature)
    with pytest.raises(SshSignatureError):
        app.perform(tampered)
    # signed by bob's key but naming alice as signer: the roster says the key is bob's
    with pytest.raises(NotAuthorised):
        app.perform(_signed(services, keys["bob.risk"]))
    app.perform(good)
    # the same signed intent again: it names a version the ticket has moved past
    with pytest.raises(SigningError):
        app.perform(good)
    # onto another ticket: the target is signed, the id derived from it
    other = _signed(services, keys["alice.rm"], target="ticket:CHG-9")
    with pytest.raises((SigningError, NotFound)):
        app.perform(other)
    assert [e.signature.signer for e in app.ticket_events("CHG-1")] == ["dave.dev", "alice.rm"]
    stored = app.ticket_events("CHG-1")[1].signature
    assert base64.b64decode(stored.signed) == good.payload
