"""The checkpoint signing key: where it lives, creating it, showing its public half."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.adapters.signing_keys import (
    DEFAULT_NAME,
    AgentEd25519Signer,
    create_key,
    load_key,
)
from opsledger.domain.checkpoint import Signer

if TYPE_CHECKING:
    from opsledger.services.bootstrap import Services

__all__ = ["DEFAULT_NAME", "KeyInfo", "init_key", "key_path", "show_key", "signer"]


@dataclass(frozen=True)
class KeyInfo:
    key_file: Path
    name: str
    verifier_key: str


def key_path(services: Services, explicit: Path | None = None) -> Path:
    """--key-file, else OPSLEDGER_SIGNING_KEY, else $OPSLEDGER_HOME/keys/ledger.key."""
    settings = services.settings
    return explicit or settings.signing_key or (settings.home / "keys" / "ledger.key")


def signer(services: Services, explicit: Path | None = None) -> Signer:
    """The log's checkpoint key: held by an ssh-agent (OPSLEDGER_SIGNING_AGENT,
    a socket another account may own) unless a key file is named, else the
    key file (--key-file, OPSLEDGER_SIGNING_KEY, $OPSLEDGER_HOME/keys/ledger.key)."""
    settings = services.settings
    if explicit is None and settings.signing_agent:
        return AgentEd25519Signer(settings.signing_name, settings.signing_agent)
    return load_key(key_path(services, explicit))


def has_signer(services: Services) -> bool:
    """Whether a checkpoint key is configured (an agent, or an existing key file)."""
    return bool(services.settings.signing_agent) or key_path(services).exists()


def init_key(services: Services, key_file: Path | None = None, name: str = DEFAULT_NAME) -> KeyInfo:
    """Creates the key (never replacing one: its checkpoints could no longer be
    tied to their successors)."""
    path = key_path(services, key_file)
    created = create_key(path, name)
    return KeyInfo(path, created.name, created.verifier_key)


def show_key(services: Services, key_file: Path | None = None) -> KeyInfo:
    path = key_path(services, key_file)
    loaded = load_key(path)
    return KeyInfo(path, loaded.name, loaded.verifier_key)
