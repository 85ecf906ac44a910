"""Cosignatures (C2SP tlog-cosignature, type 0x04) and the witness's add-checkpoint
decisions (C2SP tlog-witness), with plain values: no HTTP, a real state folder."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from opsledger.adapters.signing_keys import Ed25519Verifier, create_key
from opsledger.domain.checkpoint import Checkpoint, open_note, sign_checkpoint, split_note
from opsledger.domain.cosignature import (
    cosign,
    cosigned_message,
    cosigner_key_hash,
    count_cosignatures,
    parse_cosigner_key,
)
from opsledger.domain.merkle import consistency_proof, leaf_hash, root_hash
from opsledger.domain.witness import AddCheckpoint, parse_request, parse_size
from opsledger.services.witness import open_witness

LOG = "desk.example/ledger"


@pytest.fixture
def keys(tmp_path: Path):
    log = create_key(tmp_path / "log.key", LOG)
    witness = create_key(tmp_path / "w1.key", "compliance.example/w1", witness=True)
    return log, witness


def leaves(n: int, fork: bool = False) -> list[bytes]:
    return [leaf_hash(f"{'forked ' if fork and i == 2 else ''}event {i}".encode()) for i in range(n)]


def note(log, size: int, fork: bool = False) -> str:
    return sign_checkpoint(Checkpoint(LOG, size, root_hash(leaves(size, fork))), [log])


def body(old: int, proof, checkpoint: str) -> bytes:
    return AddCheckpoint(old, tuple(proof), checkpoint).to_body()


def test_a_cosignature_is_type_4_timestamped_over_the_cosignature_v1_message(keys):
    _, witness = keys
    name, key_hash, public = parse_cosigner_key(witness.verifier_key)
    assert base64.b64decode(witness.verifier_key.split("+", 2)[2])[0] == 0x04
    digest = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()
    assert key_hash == cosigner_key_hash(name, public) == int.from_bytes(digest[:4], "big")
    text = Checkpoint(LOG, 3, root_hash(leaves(3))).to_text()
    line = cosign(text, witness, 1679315147)
    assert line.signature[:8] == (1679315147).to_bytes(8, "big") and len(line.signature) == 72
    assert cosigned_message(text, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + text.encode()
    verifier = Ed25519Verifier.from_witness_key(witness.verifier_key)
    signed = text + "\n" + line.to_line()
    assert open_note(signed, [verifier]).verified == (line,)
    assert count_cosignatures(signed, [verifier]).valid == (f"{name}+{key_hash:08x}",)
    # the timestamp is signed: moving it breaks the cosignature
    moved = line.signature[:7] + bytes([line.signature[7] ^ 1]) + line.signature[8:]
    forged = text + "\n" + type(line)(line.name, line.key_hash, moved).to_line()
    assert count_cosignatures(forged, [verifier]).invalid == (f"{name}+{key_hash:08x}",)
    # a type 0x01 checkpoint key is not a witness key
    with pytest.raises(Exception, match="not a witness"):
        Ed25519Verifier.from_witness_key(keys[0].verifier_key)


def test_the_witness_answers_as_the_spec_says(keys, tmp_path):
    log, witness_key = keys
    clock = iter(range(1700000000, 1700000100))
    witness = open_witness(tmp_path / "w1.key", tmp_path / "state",
                           [f"{LOG}={log.verifier_key}"], clock=lambda: next(clock))
    vkey = Ed25519Verifier.from_witness_key(witness_key.verifier_key)

    first = witness.add_checkpoint(body(0, [], note(log, 4)))
    assert first.status == 200 and first.body.startswith("— compliance.example/w1 ".encode())
    assert count_cosignatures(note(log, 4) + first.body.decode(), [vkey]).valid

    # a wrong old size: 409 with the size cosigned, as text/x.tlog.size
    wrong = witness.add_checkpoint(body(0, [], note(log, 7)))
    assert (wrong.status, wrong.content_type, parse_size(wrong.body)) == (409, "text/x.tlog.size", 4)
    # the right old size with a proof: cosigned, and kept
    proof = consistency_proof(4, 7, leaves(7))
    assert witness.add_checkpoint(body(4, proof, note(log, 7))).status == 200
    # an old size above the checkpoint's: 400
    assert witness.add_checkpoint(body(9, [], note(log, 7))).status == 400
    # a fork: another tree of a size it cosigned (409), or a bad proof to a bigger one (422)
    assert witness.add_checkpoint(body(7, [], note(log, 7, fork=True))).status == 409
    forked = consistency_proof(7, 9, leaves(9, fork=True))
    assert witness.add_checkpoint(body(7, forked, note(log, 9, fork=True))).status == 422
    # an unknown origin (404), a key it does not trust (403), a malformed body (400)
    other = create_key(tmp_path / "other.key", "other.example/log")
    assert witness.add_checkpoint(
        body(0, [], sign_checkpoint(Checkpoint("other.example/log", 1, leaves(1)[0]), [other]))
    ).status == 404
    impostor = create_key(tmp_path / "impostor.key", LOG)
    assert witness.add_checkpoint(body(7, [], note(impostor, 8))).status == 403
    assert witness.add_checkpoint(b"old 07\n\n" + note(log, 8).encode()).status == 400
    # the state survives a restart, and stays at 7
    again = open_witness(tmp_path / "w1.key", tmp_path / "state", [f"{LOG}={log.verifier_key}"])
    assert parse_size(again.add_checkpoint(body(0, [], note(log, 8))).body) == 7
    stored = next((tmp_path / "state").glob("log-*.txt")).read_text()
    assert split_note(stored)[0] == Checkpoint(LOG, 7, root_hash(leaves(7))).to_text()


def test_a_request_body_parses_exactly():
    cp = "o\n1\n" + base64.b64encode(b"\0" * 32).decode() + "\n\n— o AAAAAAA=\n"
    assert parse_request(AddCheckpoint(3, (b"\1" * 32,), cp).to_body()).proof == (b"\1" * 32,)
    for bad in (b"old 1\n" + cp.encode(), b"old -1\n\n" + cp.encode(),
                b"old 1\nnot base64\n\n" + cp.encode(),
                b"old 1\n" + (base64.b64encode(b"\1" * 32) + b"\n") * 64 + b"\n" + cp.encode()):
        with pytest.raises(ValueError):
            parse_request(bad)


def test_a_trust_file_requires_a_quorum_and_names_who_cosigned(keys, tmp_path):
    from opsledger.services.errors import InvalidRequest
    from opsledger.services.ledger_archive import quorum_findings, read_trust

    log, w1 = keys
    w2 = create_key(tmp_path / "w2.key", "risk.example/w2", witness=True)
    text = Checkpoint(LOG, 3, root_hash(leaves(3))).to_text()
    signed = sign_checkpoint(Checkpoint.from_text(text), [log])
    one = signed + cosign(text, w1, 1700000000).to_line()
    trust = tmp_path / "trust"
    trust.write_text(f"log {log.verifier_key}\nwitness {w1.verifier_key}  # compliance\n"
                     f"witness {w2.verifier_key}\nquorum 2\n")
    policy = read_trust(None, trust)
    assert (len(policy.logs), len(policy.witnesses), policy.quorum) == (1, 2, 2)
    (finding,) = quorum_findings({"opsledger/checkpoint.txt": one.encode()}, policy)
    assert finding.startswith("witness-quorum: 1 of the 2 required cosignatures")
    assert "valid: compliance.example/w1+" in finding and "absent: risk.example/w2+" in finding
    both = one + cosign(text, w2, 1700000001).to_line()
    assert quorum_findings({"opsledger/checkpoint.txt": both.encode()}, policy) == []
    # a cosignature made for another checkpoint is invalid, and named so
    other = cosign(Checkpoint(LOG, 4, root_hash(leaves(4))).to_text(), w2, 1700000002)
    (finding,) = quorum_findings({"opsledger/checkpoint.txt": (one + other.to_line()).encode()},
                                 policy)
    assert "invalid: risk.example/w2+" in finding
    trust.write_text(f"log {log.verifier_key}\nwitness {w1.verifier_key}\nquorum 2\n")
    with pytest.raises(InvalidRequest, match="quorum 2 with 1 witness"):
        read_trust(None, trust)
    trust.write_text(f"witness {log.verifier_key}\n")
    with pytest.raises(InvalidRequest, match="not a witness"):
        read_trust(None, trust)
