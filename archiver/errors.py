"""Exception hierarchy of the archiver layer.

Only ``cli/`` maps these to exit codes: input problems (``BagInputError``)
are usage errors, everything else is a failed operation. Verification
failures are *not* exceptions: the verifier reports them as findings.
"""

from __future__ import annotations


class ArchiverError(Exception):
    """Base class of every error raised by the archiver."""


class BagInputError(ArchiverError):
    """The caller's input cannot become a bag (bad ticket key, label, tag
    file name, unsupported file type in the session folder...)."""


class SourceChangedError(ArchiverError):
    """A payload file changed while it was being archived.

    The output stream is left without a zstd frame end, so it can never be
    mistaken for a complete archive; the caller must discard it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SourceReadError(ArchiverError):
    """A payload file could not be opened or read."""


class ArchiveWriteError(ArchiverError):
    """The output stream refused the archive bytes."""


class TarFormatError(ArchiverError):
    """A tar stream is malformed (bad header checksum, bad pax record...)."""


class TarTruncatedError(TarFormatError):
    """A tar stream ended in the middle of a header or a member."""


class ExtractError(ArchiverError):
    """``extract_safe`` refused its destination."""


class DetachedManifestError(ArchiverError):
    """Detached manifest bytes are not a manifest this version understands."""
