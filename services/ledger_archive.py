"""The ledger's part in archives: the proofs a sealed archive carries, the
checkpoints each seal publishes outside the database, and the offline check
of an archive's proofs against log keys an auditor trusts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.signing_keys import Ed25519Verifier, SigningKeyError
from opsledger.archiver.verify.proof_format import (
    ARCHIVE_FORMAT,
    CHECKPOINT,
    PROOFS,
    VERIFIER_KEY,
)
from opsledger.archiver.verify.proofs import check_archive_proofs
from opsledger.domain.checkpoint import CheckpointError, SignatureVerifier
from opsledger.domain.cosignature import count_cosignatures
from opsledger.domain.persistence import canonical_json
from opsledger.projections.ledger_log import SealProofs
from opsledger.services.checkpoints import publish_checkpoint
from opsledger.services.errors import InvalidRequest
from opsledger.services.keys import has_signer, key_path, signer
from opsledger.services.ledger import caught_up, hexes, ledger_errors, parse_verifier
from opsledger.services.witnesses import request_cosignatures

if TYPE_CHECKING:
    from opsledger.archiver.stores.port import ArchiveStore
    from opsledger.services.bootstrap import Services

Notify = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def ledger_tag_files(
    services: Services,
    key: str,
    events: bytes,
    *,
    notify: Notify = _silent,
    publish_in: ArchiveStore | None = None,
) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    """The ledger's proofs for ticket `key`'s archive: (tag files, bag-info lines).

    `events` is the archive's `opsledger/events.jsonl`. The checkpoint is of the
    tree ending at the ticket's last event, so a rerun of the same seal signs
    the same tree and (Ed25519 being deterministic) writes the same bytes.

    Without a signing key the archive is sealed without proofs, with a warning
    and a bag-info line saying so: refusing would keep the ticket from closing
    over a missing key, while an archive that says it has no proofs fails an
    auditor's `archive verify --public-key` instead of passing it silently.
    """
    if not has_signer(services):
        notify(
            f"opsledger: warning: no signing key at {key_path(services, None)}; {key}'s archive "
            "carries no ledger proofs (create the key with 'opsledger keys init' before sealing)"
        )
        return {}, [("Opsledger-Proofs", "none (no signing key)")]
    key_signer = signer(services)
    positions = sorted(json.loads(line)["position"] for line in events.splitlines() if line)
    with ledger_errors():
        ledger = caught_up(services)
        proofs = ledger.seal(key, positions, key_signer)
    checkpoint, info = proofs.checkpoint, []
    if services.settings.witnesses:  # C2SP tlog-witness: each asked from the seal before
        previous = proofs.previous.size if proofs.previous is not None else 0
        with ledger_errors():
            cosigning = request_cosignatures(services, ledger, checkpoint.note, hint=previous,
                                             notify=notify)
        checkpoint = replace(checkpoint, note=cosigning.note)
        info.append(("Opsledger-Witnesses", cosigning.summary))
        notify(f"opsledger: {key}'s checkpoint (tree {checkpoint.size}): witnesses "
               f"{cosigning.summary}, {cosigning.milliseconds:.0f} ms")
    if publish_in is not None:  # outside the database, create-only, beside the archive
        publish_checkpoint(publish_in, checkpoint, notify)
    document = archive_proofs_document(proofs)
    consistency = document["consistency"]
    summary = f"rfc9162 tree {checkpoint.size}, {len(proofs.inclusions)} inclusion proofs"
    if consistency is not None:
        summary += f", consistency {consistency['first_size']} -> {consistency['second_size']}"
    return (
        {
            CHECKPOINT: checkpoint.note.encode("utf-8"),
            PROOFS: canonical_json(document) + b"\n",
            VERIFIER_KEY: (key_signer.verifier_key + "\n").encode("utf-8"),
        },
        [("Opsledger-Proofs", summary), *info],
    )


def archive_proofs_document(proofs: SealProofs) -> dict[str, Any]:
    consistency = None
    if proofs.previous is not None:
        first, second = sorted((proofs.previous.size, proofs.checkpoint.size))
        consistency = {
            "previous_checkpoint": proofs.previous.note,
            "first_size": first,
            "second_size": second,
            "path": hexes(proofs.consistency),
        }
    return {
        "format": ARCHIVE_FORMAT,
        "tree_size": proofs.checkpoint.size,
        "root_hash": proofs.checkpoint.root_hash.hex(),
        "inclusion": [
            {
                "position": e.position,
                "leaf_index": e.leaf_index,
                "leaf_hash": e.leaf_hash.hex(),
                "path": hexes(e.path),
            }
            for e in proofs.inclusions
        ],
        "consistency": consistency,
    }


def archive_proof_findings(tag_files: dict[str, bytes],
                           verifiers: Sequence[Ed25519Verifier]) -> list[str]:
    """What `archive verify --public-key/--trust` adds: every failing proof, as lines."""
    report = check_archive_proofs(tag_files, list(verifiers))
    return [str(f) for f in report.findings]


@dataclass(frozen=True)
class Trust:
    """What an auditor trusts, from outside the archive: log keys, witness keys,
    and how many of those witnesses must have cosigned the archive's checkpoint."""

    logs: tuple[Ed25519Verifier, ...] = ()
    witnesses: tuple[SignatureVerifier, ...] = ()
    quorum: int = 0


def read_trust(public_key: str | None, trust: Path | None) -> Trust:
    """--public-key, and a trust file's lines (blank lines and # comments aside):
    `log KEY` (a log's checkpoint key), `witness KEY` (a witness's type 0x04
    key), `quorum N` (cosignatures by that many distinct listed witnesses are
    required; 1 when witnesses are listed and no quorum line is)."""
    logs = [parse_verifier(public_key)] if public_key else []
    witnesses: dict[tuple[str, int], SignatureVerifier] = {}
    quorum = None
    if trust is not None:
        try:
            text = trust.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"--trust {trust}: {getattr(e, 'strerror', None) or e}") from None
        for number, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            where = f"--trust {trust} line {number}"
            if len(words) != 2 or words[0] not in ("log", "witness", "quorum"):
                raise InvalidRequest(f"{where}: expected 'log KEY', 'witness KEY' or 'quorum N'")
            kind, value = words
            if kind == "log":
                logs.append(parse_verifier(value))
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
    if quorum is None:
        quorum = 1 if witnesses else 0
    if quorum > len(witnesses):
        raise InvalidRequest(f"--trust {trust}: quorum {quorum} with {len(witnesses)} witness key(s)")
    return Trust(tuple(logs), tuple(witnesses.values()), quorum)


def quorum_findings(tag_files: dict[str, bytes], trust: Trust) -> list[str]:
    """A missing quorum, as one finding naming how many of which witnesses cosigned."""
    if not trust.quorum:
        return []
    note = tag_files.get(CHECKPOINT)
    if note is None:
        return [f"witness-quorum: {trust.quorum} cosignature(s) required, the archive "
                f"carries no {CHECKPOINT}"]
    try:
        counted = count_cosignatures(note, trust.witnesses)
    except CheckpointError as e:
        return [f"witness-quorum: {CHECKPOINT} is unreadable: {e}"]
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
            f"by trusted witnesses on {CHECKPOINT} ({'; '.join(parts)})"]
