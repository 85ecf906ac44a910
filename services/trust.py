"""What an auditor trusts, from outside the archive and the database: the trust
file (`--trust FILE` of `archive verify` and `ledger verify`), and the witness
quorum it asks of every checkpoint that left the database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from opsledger.adapters.signing_keys import Ed25519Verifier, SigningKeyError
from opsledger.domain.checkpoint import CheckpointError, SignatureVerifier
from opsledger.domain.cosignature import count_cosignatures
from opsledger.services.errors import InvalidRequest
from opsledger.services.ledger import parse_verifier

MAX_TRUST_BYTES = 1 << 20  # a few keys and a quorum; never read without end (/dev/zero)
SYNTAX = "expected 'log KEY', 'log KEY until-tree N', 'witness KEY' or 'quorum N'"


@dataclass(frozen=True)
class Trust:
    """Log keys (each valid up to a tree size, when rotated out), witness keys,
    and how many of those witnesses must have cosigned a checkpoint."""

    logs: tuple[Ed25519Verifier, ...] = ()
    witnesses: tuple[SignatureVerifier, ...] = ()
    quorum: int = 0


def read_trust(public_key: str | None, trust: Path | None) -> Trust:
    """--public-key, and a trust file's lines (blank lines and # comments aside):
    `log KEY` (a log's checkpoint key), `log KEY until-tree N` (a key rotated
    out when the log held N events: a checkpoint of a larger tree signed by it
    is refused), `witness KEY` (a witness's type 0x04 key), `quorum N`
    (cosignatures by that many distinct listed witnesses are required; 1 when
    witnesses are listed and no quorum line is)."""
    logs = [parse_verifier(public_key)] if public_key else []
    witnesses: dict[tuple[str, int], SignatureVerifier] = {}
    quorum = None
    if trust is not None:
        try:
            with trust.open("rb") as f:
                raw = f.read(MAX_TRUST_BYTES + 1)
            if len(raw) > MAX_TRUST_BYTES:
                raise InvalidRequest(f"--trust {trust}: over the cap of {MAX_TRUST_BYTES} bytes "
                                     "for a trust file")
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"--trust {trust}: {getattr(e, 'strerror', None) or e}") from None
        for number, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            where = f"--trust {trust} line {number}"
            if words[0] == "log" and len(words) == 4 and words[2] == "until-tree":
                if not words[3].isdigit():
                    raise InvalidRequest(f"{where}: until-tree N, N a whole number")
                logs.append(replace(parse_verifier(words[1], where=where), until_tree=int(words[3])))
                continue
            if len(words) != 2 or words[0] not in ("log", "witness", "quorum"):
                raise InvalidRequest(f"{where}: {SYNTAX}")
            kind, value = words
            if kind == "log":
                logs.append(parse_verifier(value, where=where))
            elif kind == "witness":
                try:
                    verifier = Ed25519Verifier.from_witness_key(value)
                except SigningKeyError as e:
                    raise InvalidRequest(f"{where}: {e}") from None
                witnesses[(verifier.name, verifier.key_hash)] = verifier
            elif quorum is not None or not value.isdigit():
                raise InvalidRequest(f"{where}: one 'quorum N' line, N a whole number")
            else:
                quorum = int(value)
        if not logs:
            raise InvalidRequest(f"--trust {trust}: names no log key ('log KEY' lines), so "
                                 "it would trust nothing; give one, or --public-key")
    if quorum is None:
        quorum = 1 if witnesses else 0
    if quorum > len(witnesses):
        raise InvalidRequest(f"--trust {trust}: quorum {quorum} with {len(witnesses)} witness key(s)")
    return Trust(tuple(logs), tuple(witnesses.values()), quorum)


def note_quorum_findings(label: str, note: bytes, trust: Trust) -> list[str]:
    """A missing quorum on one checkpoint note, as one finding naming how many
    of which listed witnesses cosigned it (valid, invalid, absent)."""
    if not trust.quorum:
        return []
    try:
        counted = count_cosignatures(note, trust.witnesses)
    except CheckpointError as e:
        return [f"witness-quorum: {label} is unreadable: {e}"]
    if len(counted.valid) >= trust.quorum:
        return []
    listed = [f"{w.name}+{w.key_hash:08x}" for w in trust.witnesses]
    missing = [w for w in listed if w not in counted.valid and w not in counted.invalid]
    parts = [f"valid: {', '.join(counted.valid) or 'none'}"]
    if counted.invalid:
        parts.append(f"invalid: {', '.join(counted.invalid)}")
    if missing:
        parts.append(f"absent: {', '.join(missing)}")
    return [f"witness-quorum: {len(counted.valid)} of the {trust.quorum} required cosignatures "
            f"by trusted witnesses on {label} ({'; '.join(parts)})"]
