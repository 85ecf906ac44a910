"""Rotating the log's checkpoint key without breaking the chain of trust.

`rotate_key` makes a new key and a rotation statement, a C2SP signed note
signed by the old key *and* the new one:

    opsledger.key-rotation/v1
    old <old verifier key>
    new <new verifier key>
    tree <the ledger's size at the rotation>

It is published create-only beside the archives (`key-rotation-<tree>.txt`),
so an auditor holding only the old key learns the new one from a statement
the old key signed. The old key is retired: its private half is destroyed (the new key
replaces it; nothing may sign with it again, and a copy left on disk would be
one more key to steal), its public half stays in the keys folder
(`*.retired.pub`, with the line `tree <size>`), and
`ledger verify` accepts checkpoints signed by the current key or by a retired
one for a tree no larger than the log was at its rotation (services.log_keys),
as a trust file may list `log KEY until-tree N`: a copy of the old key that
leaked cannot vouch for any history written after it was retired.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.adapters.signing_keys import create_key, load_key
from opsledger.domain.checkpoint import sign_note
from opsledger.services.errors import InvalidRequest
from opsledger.services.keys import key_path
from opsledger.services.ledger import caught_up, ledger_errors
from opsledger.services.log_keys import ROTATION_HEADER as HEADER
from opsledger.services.log_keys import retired_pub_text

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services


@dataclass(frozen=True)
class Rotation:
    old_verifier_key: str
    new_verifier_key: str
    tree_size: int
    statement: str
    published: str
    retired: Path


def rotate_key(services: Services, key_file: Path | None = None) -> Rotation:
    """A new checkpoint key, announced by a statement the old key signs."""
    if key_file is None and services.settings.signing_agent:
        raise InvalidRequest("the checkpoint key is held by ssh-agent: rotate it there, "
                             "and publish the new verifier key")
    path = key_path(services, key_file)
    old = load_key(path)
    with ledger_errors():
        size = caught_up(services).head().size
    staged = path.with_name(path.name + ".new")
    for leftover in (staged, staged.with_suffix(".pub")):
        leftover.unlink(missing_ok=True)  # an interrupted rotation left its new key
    new = create_key(staged, old.name)
    text = f"{HEADER}\nold {old.verifier_key}\nnew {new.verifier_key}\ntree {size}\n"
    statement = sign_note(text, [old, new])
    data = statement.encode("utf-8")
    put = services.archive_store().put_archive(
        f"key-rotation-{size}.txt", io.BytesIO(data),
        sha256=hashlib.sha256(data).hexdigest(), size=len(data),
    )
    retired = path.with_name(f"{path.stem}.{old.key_hash:08x}.retired.pub")
    retired.write_text(retired_pub_text(old.verifier_key, size))  # its validity's bound
    # The new key replaces the old one in one rename: the old private key is gone
    # (nothing signs with it again), and there is never a moment without a key.
    os.replace(staged, path)
    os.replace(staged.with_suffix(".pub"), path.with_suffix(".pub"))
    return Rotation(old.verifier_key, new.verifier_key, size, statement, put.location, retired)
