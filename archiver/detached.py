"""The detached manifest: a canonical JSON summary kept beside the archive.

It lets a store or an auditor check the archive's own hash and size before
opening it, and each member's hash without trusting the bag's manifests.
Canonical here means RFC 8785 (JCS) for the values it holds: sorted keys,
no insignificant whitespace, UTF-8, integers only, so equal content gives
equal bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from opsledger.archiver.errors import DetachedManifestError

FORMAT = "opsledger-bag-manifest"
FORMAT_VERSION = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class DetachedFile:
    path: str  # relative to the bag's top-level directory
    size: int
    sha256: str


@dataclass(frozen=True)
class DetachedManifest:
    archive_name: str
    archive_sha256: str
    archive_size: int
    tar_size: int
    top_dir: str
    ticket_key: str
    session_date: str
    payload_oxum: str
    files: tuple[DetachedFile, ...]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "ticket_key": self.ticket_key,
                "session_date": self.session_date,
                "archive": {
                    "name": self.archive_name,
                    "compression": "zstd",
                    "sha256": self.archive_sha256,
                    "size": self.archive_size,
                    "tar_size": self.tar_size,
                },
                "bag": {
                    "bagit_version": "1.0",
                    "top_dir": self.top_dir,
                    "payload_oxum": self.payload_oxum,
                },
                "files": [
                    {"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files
                ],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DetachedManifest:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DetachedManifestError(f"detached manifest is not UTF-8 JSON: {exc}") from None
        except (ValueError, RecursionError) as exc:  # the verifier caps depth before this
            raise DetachedManifestError(f"detached manifest is not readable JSON: {exc}") from None
        try:
            if doc.get("format") != FORMAT:
                raise DetachedManifestError(f"detached manifest format is not {FORMAT!r}")
            if doc.get("format_version") != FORMAT_VERSION:
                raise DetachedManifestError(
                    f"detached manifest format_version {doc.get('format_version')!r}"
                    f" is not supported (expected {FORMAT_VERSION})"
                )
            archive, bag = doc["archive"], doc["bag"]
            files = tuple(
                DetachedFile(_str(f["path"]), _size(f["size"]), _sha(f["sha256"]))
                for f in doc["files"]
            )
            return cls(
                archive_name=_str(archive["name"]),
                archive_sha256=_sha(archive["sha256"]),
                archive_size=_size(archive["size"]),
                tar_size=_size(archive["tar_size"]),
                top_dir=_str(bag["top_dir"]),
                ticket_key=_str(doc["ticket_key"]),
                session_date=_str(doc["session_date"]),
                payload_oxum=_str(bag["payload_oxum"]),
                files=files,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise DetachedManifestError(
                f"detached manifest lacks or mistypes a field: {exc}"
            ) from None


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _size(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a byte count, got {value!r}")
    return value


def _sha(value: object) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise TypeError(f"expected a lowercase hex sha256, got {value!r}")
    return value
