"""The desk's redaction key: the secret under which redacted originals are
committed to (HMAC-SHA256), kept beside the store and never archived.

32 random bytes, hex on one line, in a file readable by its owner only
(0600), created on first use. Whoever holds it can prove which original a
redaction replaced; the archive alone gives a dictionary nothing to test.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

KEY_BYTES = 32


class RedactionKeyError(Exception):
    """The key file is unreadable, malformed, or readable by others."""


def load_or_create(path: Path) -> bytes:
    path = Path(path)
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another command created it meanwhile: use that one
        return _load(path)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return key


def _load(path: Path) -> bytes:
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise RedactionKeyError(f"{path}: the redaction key must be readable by its owner "
                                f"only (chmod 600), it is {stat.filemode(info.st_mode)}")
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise RedactionKeyError(f"{path}: not a redaction key: {exc}") from None
    if len(key) != KEY_BYTES:
        raise RedactionKeyError(f"{path}: a redaction key is {KEY_BYTES} bytes of hex")
    return key
