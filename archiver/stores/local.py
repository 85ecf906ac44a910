"""Local folder archive store: the embedded default under ``$OPSLEDGER_HOME/archives``.

Layout: ``<root>/<name>`` and ``<root>/<name>.manifest``; writes go to
``<root>/.incoming/`` first, are fsynced, and are published with ``os.link``,
which fails when the target exists, so a published file is never replaced.
Published files are made read-only as a guard against accidents, not as retention.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from opsledger.archiver.stores.errors import (
    ArchiveConflict,
    ArchiveNotFound,
    InvalidInput,
    StoreError,
    StoreUnavailable,
)
from opsledger.archiver.stores.port import ArchiveStore
from opsledger.archiver.stores.records import (
    MANIFEST_SUFFIX,
    ArchiveInfo,
    Progress,
    PutResult,
    hash_stream,
    location_hash,
    validate_name,
)
from opsledger.archiver.stores.writer import ArchiveWriter

_INCOMING = ".incoming"


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class LocalFolderStore(ArchiveStore):
    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        if not isinstance(root, str | os.PathLike) or not os.fspath(root):
            raise InvalidInput(f"archive folder must be a non-empty path, got {root!r}")
        self.root = Path(os.path.abspath(os.fspath(root)))
        self._incoming = self.root / _INCOMING
        self._fsync = fsync

    def __repr__(self) -> str:
        return f"LocalFolderStore({str(self.root)!r})"

    # Paths -------------------------------------------------------------------

    def _archive_path(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _manifest_path(self, name: str) -> Path:
        return self.root / (validate_name(name) + MANIFEST_SUFFIX)

    def _temp_prefix(self, name: str) -> str:
        # Hashed so any name maps to a short, safe file name that can be found again.
        return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]

    def location(self, name: str) -> str:
        return self._archive_path(name).as_uri()

    def _check_root(self) -> bool:
        """True when the folder exists; a missing folder is an empty store."""
        try:
            if self.root.is_dir():
                return True
            if self.root.exists():
                raise StoreUnavailable(f"archive folder {self.root} is not a directory")
            return False
        except OSError as exc:
            raise StoreUnavailable(
                f"archive folder {self.root} is not usable: {_reason(exc)}"
            ) from None

    def _prepare_for_write(self) -> None:
        try:
            self._incoming.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"archive folder {self.root} is not usable: {_reason(exc)}"
            ) from None
        self._check_root()

    def _remove_leftovers(self, name: str) -> int:
        removed = 0
        try:
            for leftover in self._incoming.glob(self._temp_prefix(name) + ".*"):
                leftover.unlink(missing_ok=True)
                removed += 1
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot clean up earlier writes in {self._incoming}: {_reason(exc)}"
            ) from None
        return removed

    def _new_temp(self, name: str) -> tuple[Path, BinaryIO]:
        path = self._incoming / f"{self._temp_prefix(name)}.{os.getpid()}.{os.urandom(6).hex()}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {path}: {_reason(exc)}") from None
        return path, os.fdopen(fd, "wb")

    def _link_into_place(self, temp: Path, final: Path) -> bool:
        """Publish the finished temp file; False when the target already exists."""
        try:
            os.chmod(temp, 0o444)
            os.link(temp, final)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StoreUnavailable(f"cannot publish {final}: {_reason(exc)}") from None
        finally:
            temp.unlink(missing_ok=True)
        if self._fsync:
            self._fsync_dir()
        return True

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StoreUnavailable(f"cannot sync {self.root}: {_reason(exc)}") from None
        try:
            os.fsync(fd)
        except OSError as exc:
            raise StoreUnavailable(f"cannot sync {self.root}: {_reason(exc)}") from None
        finally:
            os.close(fd)

    def _result(self, name: str, path: Path, sha256: str, size: int, reused: bool) -> PutResult:
        uri = path.as_uri()
        return PutResult(
            name=name,
            location=uri,
            sha256=sha256,
            size=size,
            location_hash=location_hash(uri),
            reused=reused,
            notes=("local folder store applies no retention",),
        )

    # Port --------------------------------------------------------------------

    def open_writer(
        self,
        name: str,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        progress: Progress | None = None,
    ) -> ArchiveWriter:
        validate_name(name)
        self._prepare_for_write()
        self._remove_leftovers(name)
        return _LocalWriter(self, name, expected_sha256, expected_size, progress)

    def verify_existing(
        self, name: str, sha256: str, size: int | None = None, progress: Progress | None = None
    ) -> PutResult | None:
        path = self._archive_path(name)
        if not self._check_root():
            return None
        try:
            stored_size = path.stat().st_size
            if size is not None and stored_size != size:
                raise ArchiveConflict(
                    f"{path.as_uri()} already holds {stored_size} bytes, not {size}; "
                    "refusing to overwrite",
                    name,
                )
            with open(path, "rb") as stored:
                actual, stored_size = hash_stream(stored, progress)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {path}: {_reason(exc)}") from None
        if actual != sha256:
            raise ArchiveConflict(
                f"{path.as_uri()} already holds different bytes (sha256 {actual}); "
                "refusing to overwrite",
                name,
            )
        return self._result(name, path, actual, stored_size, reused=True)

    def put_manifest(self, name: str, data: bytes) -> PutResult:
        manifest = self._manifest_path(name)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(
                f"manifest for {name!r} must be bytes, not {type(data).__name__}", name
            )
        data = bytes(data)
        sha256 = hashlib.sha256(data).hexdigest()
        self._prepare_for_write()
        if not self._archive_path(name).is_file():
            raise ArchiveNotFound(
                f"archive {name!r} has no archive object; publish it before its manifest", name
            )
        stored = self.get_manifest(name)
        if stored is None:
            temp, out = self._new_temp(name + MANIFEST_SUFFIX)
            try:
                with out:
                    out.write(data)
                    out.flush()
                    if self._fsync:
                        os.fsync(out.fileno())
            except OSError as exc:
                temp.unlink(missing_ok=True)
                raise StoreUnavailable(f"cannot write {temp}: {_reason(exc)}") from None
            if self._link_into_place(temp, manifest):
                return self._result(name, manifest, sha256, len(data), reused=False)
            stored = self.get_manifest(name)
        if stored != data:
            raise ArchiveConflict(
                f"{manifest.as_uri()} already holds a different manifest; refusing to overwrite",
                name,
            )
        return self._result(name, manifest, sha256, len(data), reused=True)

    def open_archive(self, name: str) -> BinaryIO:
        path = self._archive_path(name)
        self._check_root()
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise ArchiveNotFound(f"no archive object for {name!r} in {self.root}", name) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {path}: {_reason(exc)}") from None

    def get_manifest(self, name: str, *, max_bytes: int | None = None) -> bytes | None:
        path = self._manifest_path(name)
        if not self._check_root():
            return None
        try:
            with open(path, "rb") as f:
                return f.read(-1 if max_bytes is None else max_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {path}: {_reason(exc)}") from None

    def stat(self, name: str) -> ArchiveInfo:
        archive = self._archive_path(name)
        manifest = self._manifest_path(name)
        info = self._info(name, archive, manifest) if self._check_root() else None
        if info is None:
            raise ArchiveNotFound(f"nothing is stored under {name!r} in {self.root}", name)
        return info

    def _info(self, name: str, archive: Path, manifest: Path) -> ArchiveInfo | None:
        try:
            size: int | None = archive.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {archive}: {_reason(exc)}") from None
        try:
            manifest_present = manifest.is_file()
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {manifest}: {_reason(exc)}") from None
        if size is None and not manifest_present:
            return None
        uri = archive.as_uri()
        return ArchiveInfo(
            name=name,
            location=uri,
            archive_present=size is not None,
            manifest_present=manifest_present,
            size=size,
            location_hash=location_hash(uri) if size is not None else None,
        )

    def list(self) -> Iterator[ArchiveInfo]:
        if not self._check_root():
            return
        names: set[str] = set()
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    base = entry.name.removesuffix(MANIFEST_SUFFIX)
                    try:
                        names.add(validate_name(base))
                    except InvalidInput:
                        continue  # not written by this store
        except OSError as exc:
            raise StoreUnavailable(f"cannot list {self.root}: {_reason(exc)}") from None
        for name in sorted(names):
            info = self._info(name, self.root / name, self.root / (name + MANIFEST_SUFFIX))
            if info is not None:
                yield info


class _LocalWriter(ArchiveWriter):
    def __init__(
        self,
        store: LocalFolderStore,
        name: str,
        expected_sha256: str | None,
        expected_size: int | None,
        progress: Progress | None,
    ) -> None:
        super().__init__(name, expected_sha256, expected_size, progress)
        self._store = store
        self._final = store.root / name
        self._temp: Path | None = None
        self._out: io.BufferedWriter | BinaryIO | None = None
        # A rerun of an archive that is already published only needs to be compared.
        if not self._final.exists():
            self._temp, self._out = store._new_temp(name)

    def _accept(self, data: memoryview) -> None:
        if self._out is None:
            return
        try:
            self._out.write(data)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {self._temp}: {_reason(exc)}") from None

    def _publish(self, sha256: str, size: int) -> PutResult:
        if self._out is not None and self._temp is not None:
            try:
                self._out.flush()
                if self._store._fsync:
                    os.fsync(self._out.fileno())
                self._out.close()
            except OSError as exc:
                raise StoreUnavailable(f"cannot write {self._temp}: {_reason(exc)}") from None
            temp, self._temp, self._out = self._temp, None, None
            if self._store._link_into_place(temp, self._final):
                return self._store._result(self.name, self._final, sha256, size, reused=False)
        # Either this is a rerun or another writer published first: compare, never replace.
        existing = self._store.verify_existing(self.name, sha256, size)
        if existing is None:
            raise StoreError(
                f"archive {self.name!r} disappeared while it was being compared; run again",
                self.name,
            )
        return existing

    def _discard(self) -> None:
        out, temp, self._out, self._temp = self._out, self._temp, None, None
        try:
            if out is not None:
                out.close()
            if temp is not None:
                temp.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot remove {temp}: {_reason(exc)}") from None
