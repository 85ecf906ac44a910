"""The log keys the desk itself vouches with: its current checkpoint key and the
keys it rotated out, each of those valid only up to the tree size at its
rotation (services.key_rotation).

A rotated-out key may leak later (a former insider kept a copy): whatever it
signs for a tree larger than the log was at its rotation is a forgery, and
`ledger verify` and `archive verify` refuse it. The bound is read from the
retired key's `.pub` file (`tree N`, written by the rotation) and from every
rotation statement published beside the archives, signed by that key; the
smaller wins, and a retired key with no bound known is refused altogether
rather than trusted for any size.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.adapters.signing_keys import Ed25519Verifier, SigningKeyError, load_key
from opsledger.archiver.stores.errors import StoreError
from opsledger.domain.checkpoint import CheckpointError, open_note
from opsledger.services.keys import key_path, signer
from opsledger.services.ledger import Notify, _silent, parse_verifier

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

ROTATION_HEADER = "opsledger.key-rotation/v1"
MAX_STATEMENT = 8 << 10


def rotation_fields(text: str) -> dict[str, str] | None:
    """`old`, `new`, `tree` of a rotation statement's text; None if it is none."""
    lines = text.split("\n")
    if not lines or lines[0] != ROTATION_HEADER:
        return None
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    if not {"old", "new", "tree"} <= fields.keys() or not fields["tree"].isdigit():
        return None
    return fields


def retired_pub_text(verifier_key: str, tree_size: int) -> str:
    return f"{verifier_key}\ntree {tree_size}\n"


def _read_retired(path: Path) -> tuple[Ed25519Verifier, int | None]:
    lines = path.read_text().split("\n")
    verifier = Ed25519Verifier.from_verifier_key(lines[0].strip())
    trees = [int(w[1]) for w in (line.split() for line in lines[1:])
             if len(w) == 2 and w[0] == "tree" and w[1].isdigit()]
    return verifier, min(trees) if trees else None


def published_rotations(services: Services, notify: Notify = _silent) -> dict[str, int]:
    """Verifier key -> tree size at its rotation, from every rotation statement in
    the archive store that the old key signed (an unsigned one proves nothing)."""
    bounds: dict[str, int] = {}
    try:
        store = services.archive_store()
        names = [i.name for i in store.list() if i.name.startswith("key-rotation-")]
        for name in names:
            with store.open_archive(name) as stream:
                data = stream.read(MAX_STATEMENT + 1)
            try:
                text = data[:MAX_STATEMENT].decode("utf-8")
                fields = rotation_fields(text.split("\n\n", 1)[0] + "\n")
                if fields is None:
                    continue
                old = Ed25519Verifier.from_verifier_key(fields["old"])
                open_note(text, [old])
            except (UnicodeDecodeError, CheckpointError, SigningKeyError) as e:
                notify(f"opsledger: warning: {name} is no rotation statement the old key "
                       f"signed ({e}); ignored")
                continue
            tree = int(fields["tree"])
            bounds[fields["old"]] = min(tree, bounds.get(fields["old"], tree))
    except StoreError as e:
        notify(f"opsledger: warning: rotation statements unreadable ({e})")
    return bounds


def own_verifiers(services: Services, public_key: str | None, key_file: Path | None,
                  notify: Notify = _silent) -> list[Ed25519Verifier]:
    """--public-key, else the public half of the local signing key and of the
    keys it replaced (each bounded by its rotation's tree size), else none."""
    if public_key:
        return [parse_verifier(public_key)]
    if key_file is None and services.settings.signing_agent:
        return [Ed25519Verifier.from_verifier_key(signer(services).verifier_key)]
    path = key_path(services, key_file)
    public = path.with_suffix(".pub")
    current = []
    if public.is_file():
        current = [parse_verifier(str(public))]
    elif path.exists():
        current = [Ed25519Verifier.from_verifier_key(load_key(path).verifier_key)]
    retired_files = sorted(path.parent.glob("*.retired.pub")) if path.parent.is_dir() else []
    if not retired_files:
        return current
    rotations = published_rotations(services, notify)
    retired = []
    for file in retired_files:
        verifier, bound = _read_retired(file)
        vkey = next((k for k in rotations if Ed25519Verifier.from_verifier_key(k) == verifier),
                    None)
        if vkey is not None:
            bound = min(rotations[vkey], bound if bound is not None else rotations[vkey])
        if bound is None:
            notify(f"opsledger: warning: {file.name}: a retired key with no known rotation size "
                   "(no 'tree N' line, no rotation statement); not trusted")
            continue
        retired.append(replace(verifier, until_tree=bound))
    return current + retired
