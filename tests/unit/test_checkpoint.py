"""Signed checkpoints: published Go/C2SP vectors, then round trips and refusals.

Vectors:
- golang/mod, sumdb/note/note_test.go and note.go: the PeterNeumann and
  EnochRoot keys and signatures (``TestSign``, ``TestOpen``).
- golang/mod, sumdb/tlog/note_test.go: ``TestFormatTree``/``TestParseTree``.
- C2SP/C2SP, tlog-checkpoint.md: the example checkpoint.
- A tree head signed by sum.golang.org, checked with the key Go ships in
  golang/go, src/cmd/go/internal/modfetch/key.go. The Ed25519 signature is
  what makes it a genuine vector.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.domain.checkpoint import (
    EM_DASH,
    Checkpoint,
    CheckpointError,
    InvalidSignatureError,
    MalformedNoteError,
    NoteSignature,
    Signer,
    UnexpectedOriginError,
    UnverifiedNoteError,
    ed25519_key_hash,
    format_ed25519_verifier_key,
    open_checkpoint,
    open_note,
    parse_ed25519_verifier_key,
    sign_checkpoint,
    sign_note,
    split_note,
)
from opsledger.domain.errors import InvalidInput
from opsledger.domain.merkle import leaf_hash


class Ed25519Signer(Signer):
    """Test adapter; the real one lives outside the domain."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = name
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_hash = ed25519_key_hash(name, self.public_key)

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_go_signer_key(cls, skey: str) -> Ed25519Signer:
        # PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed)
        _, _, name, key_hash, encoded = skey.split("+", 4)
        seed = base64.b64decode(encoded)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed[1:]))
        assert signer.key_hash == int(key_hash, 16)
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_hash(self) -> int:
        return self._key_hash

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier.from_key(format_ed25519_verifier_key(self.name, self.public_key))


class Ed25519Verifier:
    def __init__(self, name: str, key_hash: int, public_key: bytes) -> None:
        self.name, self.key_hash = name, key_hash
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_key(cls, vkey: str) -> Ed25519Verifier:
        return cls(*parse_ed25519_verifier_key(vkey))

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = f"{EM_DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = f"{EM_DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n63512409\nF7eHRPqN/cqPtqti14NKdGGaI1Giw8coWP3KxihFZbg=\n\n"
    f"{EM_DASH} sum.golang.org Az3gri1OBHKT87Xj8UXU8zjoHGy/X+7Nl94f8TZkELVaasolmGApUsWqwVG9vE6hgqYb/ph/w2vdkLIVRH7bMB/FPQ4=\n"
)
C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    f"{EM_DASH} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

ROOT = hashlib.sha256(b"root").digest()


# --- published vectors ---------------------------------------------------------------


def test_go_signer_reproduces_the_go_signature_byte_for_byte() -> None:
    peter = Ed25519Signer.from_go_signer_key(PETER_SKEY)
    assert peter.key_hash == 0xC74F20A3
    assert format_ed25519_verifier_key(peter.name, peter.public_key) == PETER_VKEY
    assert sign_note(GO_TEXT, [peter]) == GO_TEXT + "\n" + PETER_SIG


def test_go_note_opens_with_one_trusted_key_and_one_unknown() -> None:
    note = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [Ed25519Verifier.from_key(PETER_VKEY)])
    assert note.text == GO_TEXT
    assert [(s.name, s.key_hash) for s in note.verified] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.name, s.key_hash) for s in note.unverified] == [("EnochRoot", 0xAF0CFE78)]

    both = [Ed25519Verifier.from_key(PETER_VKEY), Ed25519Verifier.from_key(ENOCH_VKEY)]
    note = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, both)
    assert [s.name for s in note.verified] == ["PeterNeumann", "EnochRoot"] and not note.unverified


def test_go_note_with_no_trusted_signature_is_unverified() -> None:
    with pytest.raises(UnverifiedNoteError):
        open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_go_note_with_a_forged_signature_by_a_trusted_key_is_refused() -> None:
    forged = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignatureError, match="PeterNeumann\\+c74f20a3"):
        open_note(forged, [Ed25519Verifier.from_key(PETER_VKEY)])


def test_repeated_signatures_count_once() -> None:
    note = open_note(
        GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG,
        [Ed25519Verifier.from_key(PETER_VKEY)],
    )
    assert len(note.verified) == 1 and len(note.unverified) == 1


@pytest.mark.parametrize(
    "message",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1] + "\x00",
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),
        GO_TEXT
        + "\n"
        + f"{EM_DASH} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG.replace(EM_DASH, "-"),
        GO_TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # unpadded base64
        GO_TEXT + "\n" + f"{EM_DASH} PeterNeumann AAAA\n",  # no room for a signature
        GO_TEXT + "\n" + PETER_SIG * 101,
        GO_TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG,
        42,
    ],
)
def test_go_malformed_notes_are_refused(message: str | bytes) -> None:
    with pytest.raises(MalformedNoteError) as info:
        open_note(message, [Ed25519Verifier.from_key(PETER_VKEY)])  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidInput) and "\n" not in str(info.value)


def test_a_genuine_sum_golang_org_checkpoint_verifies() -> None:
    sumdb = Ed25519Verifier.from_key(SUMDB_VKEY)
    assert sumdb.key_hash == ed25519_key_hash(
        "sum.golang.org", base64.b64decode(SUMDB_VKEY.split("+", 2)[2])[1:]
    )
    signed = open_checkpoint(SUMDB_CHECKPOINT, [sumdb], origin="go.sum database tree")
    assert signed.checkpoint == Checkpoint(
        "go.sum database tree",
        63512409,
        base64.b64decode("F7eHRPqN/cqPtqti14NKdGGaI1Giw8coWP3KxihFZbg="),
    )
    assert signed.checkpoint.to_text() + "\n" + signed.verified[0].to_line() == SUMDB_CHECKPOINT

    altered = SUMDB_CHECKPOINT.replace("63512409", "63512410")
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(altered, [sumdb])


def test_go_tlog_tree_text() -> None:
    golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    tree = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert tree.to_text() == golden
    assert Checkpoint.from_text(golden) == tree
    for bad in (
        golden[:-1],
        golden.replace("123456789012", "0xabcdef"),
        golden.replace("Bb0=", "BTOOBIG="),
    ):
        with pytest.raises(MalformedNoteError):
            Checkpoint.from_text(bad)


def test_c2sp_example_checkpoint_parses() -> None:
    text, signatures = split_note(C2SP_EXAMPLE)
    checkpoint = Checkpoint.from_text(text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert len(checkpoint.root_hash) == 32
    (signature,) = signatures
    assert signature.name == checkpoint.origin
    assert signature.key_hash == 0x033DE0AE and len(signature.signature) == 64
    assert checkpoint.to_text() + "\n" + signature.to_line() == C2SP_EXAMPLE


# --- round trips with our own keys ---------------------------------------------------


def test_a_signed_checkpoint_round_trips_and_pins_its_log() -> None:
    log = Ed25519Signer.generate("opsledger.example/audit")
    witness = Ed25519Signer.generate("witness.example/w1")
    checkpoint = Checkpoint("opsledger.example/audit", 1234, ROOT, ("ext: one",))
    message = sign_checkpoint(checkpoint, [log, witness])
    assert message.startswith("opsledger.example/audit\n1234\n")
    assert message.count(f"\n{EM_DASH} ") == 2

    signed = open_checkpoint(message, [log.verifier()], origin="opsledger.example/audit")
    assert signed.checkpoint == checkpoint
    assert [s.name for s in signed.verified] == [log.name]
    assert [s.name for s in signed.unverified] == [witness.name]

    with pytest.raises(UnexpectedOriginError, match="expected 'other.example/log'"):
        open_checkpoint(message, [log.verifier()], origin="other.example/log")


def test_a_key_with_the_right_name_but_another_hash_is_ignored() -> None:
    log = Ed25519Signer.generate("opsledger.example/audit")
    impostor = Ed25519Signer.generate("opsledger.example/audit")
    message = sign_checkpoint(Checkpoint("opsledger.example/audit", 1, ROOT), [impostor])
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(message, [log.verifier()])


@pytest.mark.parametrize(
    ("old", "new"),
    [("\n1234\n", "\n1235\n"), ("audit\n", "audit2\n"), ("ext: one", "ext: two")],
)
def test_any_change_to_a_signed_checkpoint_is_detected(old: str, new: str) -> None:
    log = Ed25519Signer.generate("opsledger.example/audit")
    message = sign_checkpoint(
        Checkpoint("opsledger.example/audit", 1234, ROOT, ("ext: one",)), [log]
    )
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(message.replace(old, new, 1), [log.verifier()])


def test_two_verifiers_for_one_key_is_a_configuration_error() -> None:
    log = Ed25519Signer.generate("opsledger.example/audit")
    message = sign_checkpoint(Checkpoint("opsledger.example/audit", 1, ROOT), [log])
    with pytest.raises(CheckpointError, match="two keys named"):
        open_checkpoint(message, [log.verifier(), log.verifier()])


checkpoints = st.builds(
    Checkpoint,
    origin=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
    size=st.integers(0, 2**63 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
        max_size=3,
    ).map(tuple),
)


@settings(max_examples=200)
@given(checkpoint=checkpoints)
def test_checkpoint_text_round_trips(checkpoint: Checkpoint) -> None:
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


_PETER = Ed25519Signer.from_go_signer_key(PETER_SKEY)


@settings(max_examples=100)
@given(checkpoint=checkpoints, bit=st.integers(0, 10_000))
def test_a_flipped_bit_anywhere_in_a_signed_checkpoint_never_verifies(
    checkpoint: Checkpoint, bit: int
) -> None:
    raw = bytearray(sign_checkpoint(checkpoint, [_PETER]).encode("utf-8"))
    bit %= 8 * len(raw)
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CheckpointError):
        open_checkpoint(bytes(raw), [_PETER.verifier()])


@settings(max_examples=300)
@given(message=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_input_fails_only_with_checkpoint_errors(message: str | bytes) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(message, [_PETER.verifier()])


@settings(max_examples=200)
@given(
    name=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), min_size=1).filter(
        lambda n: "+" not in n and not any(c.isspace() for c in n)
    ),
    key_hash=st.integers(0, 2**32 - 1),
    signature=st.binary(min_size=1, max_size=100),
)
def test_signature_lines_round_trip(name: str, key_hash: int, signature: bytes) -> None:
    sig = NoteSignature(name, key_hash, signature)
    assert NoteSignature.from_line(sig.to_line()) == sig


# --- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "log\n1\n" + base64.b64encode(ROOT).decode(),  # no final newline
        "log\n1\n",  # no root
        "log\n\n" + base64.b64encode(ROOT).decode() + "\n",  # empty size line
        "log\n01\n" + base64.b64encode(ROOT).decode() + "\n",  # leading zero
        "log\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "log\n+1\n" + base64.b64encode(ROOT).decode() + "\n",
        "log\n\u0661\n" + base64.b64encode(ROOT).decode() + "\n",  # Arabic-Indic digit one
        "log\n9223372036854775808\n" + base64.b64encode(ROOT).decode() + "\n",  # above int64
        "log\n"
        + "9" * 5000
        + "\n"
        + base64.b64encode(ROOT).decode()
        + "\n",  # above int()'s digit limit
        "log\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",  # 31-byte root
        "log\n1\n" + base64.b64encode(ROOT).decode().rstrip("=") + "\n",  # unpadded
        "log\n1\n" + base64.b64encode(ROOT).decode() + "\n\nextension after blank\n",
        "log\x00\n1\n" + base64.b64encode(ROOT).decode() + "\n",
    ],
)
def test_malformed_checkpoint_texts_are_refused(text: str) -> None:
    with pytest.raises(MalformedNoteError, match="^checkpoint: "):
        Checkpoint.from_text(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "", "size": 1, "root_hash": ROOT},
        {"origin": "a\nb", "size": 1, "root_hash": ROOT},
        {"origin": "log", "size": -1, "root_hash": ROOT},
        {"origin": "log", "size": True, "root_hash": ROOT},
        {"origin": "log", "size": 1, "root_hash": ROOT.hex()},
        {"origin": "log", "size": 1, "root_hash": ROOT, "extensions": ("",)},
        {"origin": "log", "size": 1, "root_hash": ROOT, "extensions": ["x"]},
    ],
)
def test_malformed_checkpoints_cannot_be_built(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(MalformedNoteError):
        Checkpoint(**kwargs)


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),  # hash of another key
        PETER_VKEY.replace("PeterNeumann", "Peter"),
        PETER_VKEY.replace("+ARpc", "+AhRpc"),  # not a valid key encoding
        "PeterNeumann+c74f20a3+"
        + base64.b64encode(
            b"\x02" + base64.b64decode(PETER_VKEY[22:])[1:]
        ).decode(),  # algorithm 0x02
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(MalformedNoteError, match="^key: "):
        parse_ed25519_verifier_key(vkey)


def test_signing_needs_a_proper_text_and_signer() -> None:
    with pytest.raises(MalformedNoteError):
        sign_note("no final newline", [_PETER])
    with pytest.raises(MalformedNoteError):
        sign_note("ok\n", [])

    class Nameless(Ed25519Signer):
        @property
        def name(self) -> str:
            return "has space"

    with pytest.raises(MalformedNoteError):
        sign_note("ok\n", [Nameless("x", Ed25519PrivateKey.generate())])
