"""An auditor's offline check of an archive's ledger proofs (archiver.proofs):
with only the tag files and the public key, every event is shown in the
signed log, unaltered and in order; any flipped byte is a finding."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opsledger.adapters.signing_keys import Ed25519Signer, Ed25519Verifier
from opsledger.archiver.proofs import (
    ARCHIVE_FORMAT,
    CHECKPOINT,
    CONSISTENCY_FORMAT,
    EVENTS,
    INCLUSION_FORMAT,
    PROOFS,
    ProofDocumentError,
    check_archive_proofs,
    check_proof_document,
    event_leaf_hash,
)
from opsledger.domain.checkpoint import Checkpoint, sign_checkpoint
from opsledger.domain.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_bytes,
    leaf_hash,
    root_hash,
)
from opsledger.domain.persistence import canonical_json

KEY = Ed25519Signer("opsledger.test/ledger", Ed25519PrivateKey.generate())
TRUSTED = [Ed25519Verifier.from_verifier_key(KEY.verifier_key)]


def log(n: int = 40) -> list[dict]:
    """A log with gaps; every third event is the ticket's."""
    return [
        {
            "position": 2 * i + 1,
            "originator_id": f"6d1c6a52-1c7e-5d1e-9f0a-{i % 3:012d}",
            "originator_version": i // 3 + 1,
            "topic": "opsledger.ticket.EvidenceAttached",
            "state": json.dumps({"i": i, "note": "évidence ✓"}, ensure_ascii=False),
        }
        for i in range(n)
    ]


def leaves(events: list[dict]) -> list[bytes]:
    return [
        leaf_hash(leaf_bytes(e["position"], e["originator_id"], e["originator_version"], e["topic"],
                             e["state"].encode()))
        for e in events
    ]


def signed(hashes: list[bytes], size: int) -> str:
    return sign_checkpoint(Checkpoint(KEY.name, size, root_hash(hashes[:size])), [KEY])


def archive(previous_size: int | None = 12) -> dict[str, bytes]:
    everything = log()
    hashes = leaves(everything)
    mine = [i for i in range(len(everything)) if i % 3 == 0 and i < 30]
    size = mine[-1] + 1
    consistency = None
    if previous_size is not None:
        first, second = sorted((previous_size, size))
        consistency = {
            "previous_checkpoint": signed(hashes, previous_size),
            "first_size": first,
            "second_size": second,
            "path": [h.hex() for h in consistency_proof(first, second, hashes)],
        }
    proofs = {
        "format": ARCHIVE_FORMAT,
        "tree_size": size,
        "root_hash": root_hash(hashes[:size]).hex(),
        "inclusion": [
            {"position": everything[i]["position"], "leaf_index": i, "leaf_hash": hashes[i].hex(),
             "path": [h.hex() for h in inclusion_proof(i, size, hashes)]}
            for i in mine
        ],
        "consistency": consistency,
    }
    return {
        EVENTS: b"".join(canonical_json(everything[i]) + b"\n" for i in mine),
        CHECKPOINT: signed(hashes, size).encode(),
        PROOFS: canonical_json(proofs) + b"\n",
    }


def kinds(tag_files: dict[str, bytes], verifiers=TRUSTED) -> list[str]:
    return [f.kind for f in check_archive_proofs(tag_files, verifiers).findings]


@pytest.mark.parametrize("previous", [None, 12, 37], ids=["first-seal", "from-previous", "to-previous"])
def test_an_intact_archive_proves_every_event(previous):
    report = check_archive_proofs(archive(previous), TRUSTED)
    assert report.ok, report.findings
    assert report.events == 10 and report.tree_size == 28 and report.signed
    assert report.consistency == {None: None, 12: "12 -> 28", 37: "28 -> 37"}[previous]


def test_every_flipped_byte_of_the_events_or_proofs_is_caught():
    intact = archive()
    for name in (EVENTS, PROOFS):
        data = intact[name]
        for at in range(0, len(data) - 1, max(1, len(data) // 150)):  # the final newline is slack
            flipped = bytearray(data)
            flipped[at] ^= 0x01
            found = check_archive_proofs({**intact, name: bytes(flipped)}, TRUSTED).findings
            assert found, f"{name} byte {at} ({chr(data[at])!r}) flipped went unnoticed"


def test_an_altered_event_is_named_by_its_line_and_position():
    files = archive()
    lines = files[EVENTS].split(b"\n")
    lines[2] = lines[2].replace(b'\\"i\\": 6', b'\\"i\\": 7')
    found = check_archive_proofs({**files, EVENTS: b"\n".join(lines)}, TRUSTED).findings
    assert len(found) == 1 and found[0].kind == "inclusion"
    assert "line 3" in str(found[0]) and "position 13: the event differs" in str(found[0])


def test_events_out_of_log_order_are_refused():
    files = archive()
    lines = files[EVENTS].split(b"\n")
    lines[1], lines[2] = lines[2], lines[1]
    assert kinds({**files, EVENTS: b"\n".join(lines)}) == ["order"]


def test_a_missing_or_extra_event_is_a_finding():
    files = archive()
    lines = files[EVENTS].split(b"\n")
    assert kinds({**files, EVENTS: b"\n".join(lines[1:])}) == ["malformed"]  # a proof, no event
    extra = canonical_json(log(41)[40])
    assert kinds({**files, EVENTS: files[EVENTS] + extra + b"\n"}) == ["inclusion"]


def test_the_key_decides():
    other = Ed25519Signer(KEY.name, Ed25519PrivateKey.generate())
    assert kinds(archive(), [Ed25519Verifier.from_verifier_key(other.verifier_key)]) == [
        "signature", "signature"]  # the checkpoint and the previous one
    unsigned = check_archive_proofs(archive(), [])
    assert unsigned.ok and not unsigned.signed  # the hashing holds, nobody vouched for the root


def test_a_forged_checkpoint_for_forged_proofs_fails_the_signature():
    files = archive(None)
    hashes = leaves(log())
    hashes[3] = leaf_hash(b"forged")
    forged = Checkpoint(KEY.name, 28, root_hash(hashes[:28])).to_text()
    note = files[CHECKPOINT].decode()
    files[CHECKPOINT] = (forged + note[note.index("\n\n") + 1:]).encode()
    assert kinds(files)[0] == "signature"


def test_an_archive_without_proofs_fails_an_audit():
    files = archive()
    del files[CHECKPOINT], files[PROOFS]
    found = check_archive_proofs(files, TRUSTED).findings
    assert [f.kind for f in found] == ["missing"]
    assert "no opsledger/checkpoint.txt, no opsledger/proofs.json" in str(found[0])


def test_proofs_of_another_tree_than_the_checkpoints():
    files = archive()
    proofs = json.loads(files[PROOFS])
    proofs["tree_size"] = 29
    assert "checkpoint" in kinds({**files, PROOFS: canonical_json(proofs)})
    proofs = json.loads(files[PROOFS])
    proofs["consistency"]["first_size"] = 11
    assert kinds({**files, PROOFS: canonical_json(proofs)}) == ["consistency"]


def test_stand_alone_documents():
    events = log()
    hashes = leaves(events)
    inclusion = {
        "format": INCLUSION_FORMAT, "event": events[5], "leaf_index": 5, "tree_size": 30,
        "root_hash": root_hash(hashes[:30]).hex(), "leaf_hash": hashes[5].hex(),
        "path": [h.hex() for h in inclusion_proof(5, 30, hashes)], "checkpoint": signed(hashes, 30),
    }
    report = check_proof_document(json.dumps(inclusion).encode(), TRUSTED)
    assert report.ok and report.signed and report.checkpoints == 1
    assert not check_proof_document(json.dumps({**inclusion, "leaf_index": 6}).encode(), TRUSTED).ok
    moved = {**inclusion, "event": {**events[5], "position": 12}}
    assert not check_proof_document(json.dumps(moved).encode(), TRUSTED).ok
    consistency = {
        "format": CONSISTENCY_FORMAT, "first_size": 7, "second_size": 30,
        "first_root": root_hash(hashes[:7]).hex(), "second_root": root_hash(hashes[:30]).hex(),
        "path": [h.hex() for h in consistency_proof(7, 30, hashes)],
        "first_checkpoint": None, "second_checkpoint": signed(hashes, 30),
    }
    report = check_proof_document(json.dumps(consistency).encode(), TRUSTED)
    assert report.ok and not report.signed and report.consistency == "7 -> 30"
    bad = {**consistency, "first_root": hashes[0].hex()}
    assert [f.kind for f in check_proof_document(json.dumps(bad).encode(), TRUSTED).findings] == [
        "consistency"]
    with pytest.raises(ProofDocumentError, match="not a proof document"):
        check_proof_document(b"\x00garbage", TRUSTED)
    with pytest.raises(ProofDocumentError, match="format 'x'"):
        check_proof_document(b'{"format": "x"}', TRUSTED)
    assert [f.kind for f in check_proof_document(b'{"format": "%s"}' % INCLUSION_FORMAT.encode(),
                                                 TRUSTED).findings] == ["malformed"]


def test_event_leaf_hash_reads_text_or_base64_state():
    event = log()[0]
    as_b64 = {k: v for k, v in event.items() if k != "state"}
    import base64

    as_b64["state_base64"] = base64.b64encode(event["state"].encode()).decode()
    assert event_leaf_hash(event) == event_leaf_hash(as_b64) == leaves([event])[0]
