"""BagIt rules, applied to what the verifier saw in the stream.

The stream pass records every member's size and digests; this module then
checks bagit.txt, the payload and tag manifests and Payload-Oxum against
that record, so the order of members in the tar does not matter (bags
tarred by other tools put manifests first).

Tag files it parses arrive capped in size (``limits.max_tag_file``); a
manifest with more lines than ``limits.max_manifest_lines`` stops the check
with one ``limit-exceeded`` finding, and its lines are read one at a time,
so a manifest costs its own bytes plus one entry per listed file.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from opsledger.archiver import bagit_paths
from opsledger.archiver.verify.findings import FindingKind, FindingLog, finding
from opsledger.archiver.verify.limits import DEFAULT_LIMITS, LimitExceeded, Limits

REQUIRED_MANIFESTS = ("sha256", "sha512")
REQUIRED_TAG_MANIFESTS = ("sha256",)
VERIFIABLE = ("sha256", "sha512")
# 0.97 is what bagit-python 1.9 still writes; its layout is the same as 1.0's.
READABLE_VERSIONS = (bagit_paths.BAGIT_VERSION, "0.97")

_MANIFEST_NAME = re.compile(r"(tag)?manifest-([A-Za-z0-9]+)\.txt")
_OXUM = re.compile(r"([0-9]+)\.([0-9]+)")


@dataclass(frozen=True, slots=True)
class VerifiedFile:
    path: str  # relative to the bag's top-level directory
    size: int
    sha256: str
    sha512: str


@dataclass
class BagInventory:
    files: dict[str, VerifiedFile] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    tag_contents: dict[str, bytes] = field(default_factory=dict)
    oversized_tags: set[str] = field(default_factory=set)


def is_payload(path: str) -> bool:
    return path.startswith("data/")


def is_parsed_tag(path: str) -> bool:
    """Tag files the bag checks must read: the verifier cannot skip them."""
    return path in ("bagit.txt", "bag-info.txt") or _MANIFEST_NAME.fullmatch(path) is not None


class BagChecker:
    """Findings go to ``log``; ``run`` raises ``LimitExceeded`` past a cap."""

    def __init__(self, inventory: BagInventory, log: FindingLog,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.inv = inventory
        self.log = log
        self.limits = limits
        self.bag_info: list[tuple[str, str]] = []

    def add(self, kind: FindingKind, path: str | None, message: str, **values: object) -> None:
        self.log.add(finding(kind, path, message, **values))

    def run(self) -> None:
        if "data" not in self.inv.directories and not any(map(is_payload, self.inv.files)):
            self.add(FindingKind.BAG_STRUCTURE, "data", "the payload directory data/ is missing")
        self._check_bagit_txt()
        self._check_bag_info()
        manifests: dict[str, str] = {}
        tag_manifests: dict[str, str] = {}
        for path in self.inv.files:
            match = _MANIFEST_NAME.fullmatch(path)
            if match:
                (tag_manifests if match.group(1) else manifests)[match.group(2)] = path
        for required, found, what in (
            (REQUIRED_MANIFESTS, manifests, "manifest"),
            (REQUIRED_TAG_MANIFESTS, tag_manifests, "tagmanifest"),
        ):
            for alg in required:
                if alg not in found:
                    self.add(FindingKind.MANIFEST_MISSING, f"{what}-{alg}.txt",
                             f"the bag has no {what}-{alg}.txt")
        payload = {p for p in self.inv.files if is_payload(p)}
        tags = {p for p in self.inv.files if not is_payload(p)}
        listable_tags = {p for p in tags if not p.startswith("tagmanifest-")}
        for alg, path in sorted(manifests.items()):
            self._check_manifest(path, alg, payload, payload, payload_manifest=True)
        for alg, path in sorted(tag_manifests.items()):
            # A tag manifest may list another tag manifest, never itself, and
            # need not: bagit-python leaves them all out.
            self._check_manifest(path, alg, tags - {path}, listable_tags, payload_manifest=False)

    def _text(self, path: str, kind: FindingKind) -> str | None:
        if path in self.inv.oversized_tags:
            self.add(FindingKind.TAG_FILE_TOO_LARGE, path,
                     "tag file too large to parse within the verifier's memory bound")
            return None
        data = self.inv.tag_contents.get(path)
        if data is None:
            return None
        if data.startswith(codecs.BOM_UTF8):
            self.add(kind, path, "starts with a byte-order mark, which BagIt forbids")
            data = data[len(codecs.BOM_UTF8):]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.add(kind, path, f"is not UTF-8: {exc.reason} at byte {exc.start}")
            return None
        if path in ("bagit.txt", "bag-info.txt"):  # parsed into pairs: capped in lines
            breaks = max(text.count("\n"), text.count("\r"))
            if breaks > self.limits.max_tag_lines:
                raise LimitExceeded("its number of lines", self.limits.max_tag_lines,
                                    f"at least {breaks}", path)
        return text

    def _check_bagit_txt(self) -> None:
        if "bagit.txt" not in self.inv.files:
            self.add(FindingKind.BAGIT_TXT, "bagit.txt", "bagit.txt is missing")
            return
        text = self._text("bagit.txt", FindingKind.BAGIT_TXT)
        if text is None:
            return
        fields, problems = bagit_paths.parse_tag_file(text)
        for problem in problems:
            self.add(FindingKind.BAGIT_TXT, "bagit.txt", problem)
        tags = dict(fields)
        version = tags.get("BagIt-Version")
        if version not in READABLE_VERSIONS:
            self.add(FindingKind.BAGIT_TXT, "bagit.txt", "unsupported or missing BagIt-Version",
                     expected=" or ".join(READABLE_VERSIONS), actual=version)
        encoding = tags.get("Tag-File-Character-Encoding")
        if encoding is None or encoding.upper() != "UTF-8":
            self.add(FindingKind.BAGIT_TXT, "bagit.txt",
                     "unsupported or missing Tag-File-Character-Encoding",
                     expected="UTF-8", actual=encoding)

    def _check_bag_info(self) -> None:
        if "bag-info.txt" not in self.inv.files:
            self.add(FindingKind.BAG_INFO, "bag-info.txt", "bag-info.txt is missing")
            return
        text = self._text("bag-info.txt", FindingKind.BAG_INFO)
        if text is None:
            return
        self.bag_info, problems = bagit_paths.parse_tag_file(text)
        for problem in problems:
            self.add(FindingKind.BAG_INFO, "bag-info.txt", problem)
        oxums = [value for label, value in self.bag_info if label.lower() == "payload-oxum"]
        payload = [f for p, f in self.inv.files.items() if is_payload(p)]
        actual = f"{sum(f.size for f in payload)}.{len(payload)}"
        if not oxums:
            self.add(FindingKind.PAYLOAD_OXUM, "bag-info.txt", "Payload-Oxum is missing",
                     actual=actual)
        elif len(oxums) > 1:
            self.add(FindingKind.PAYLOAD_OXUM, "bag-info.txt", "Payload-Oxum appears more than once")
        elif not _OXUM.fullmatch(oxums[0]):
            self.add(FindingKind.PAYLOAD_OXUM, "bag-info.txt", "Payload-Oxum is malformed",
                     expected="<octets>.<files>", actual=oxums[0])
        elif oxums[0] != actual:
            self.add(FindingKind.PAYLOAD_OXUM, "bag-info.txt",
                     "payload byte or file count differs from Payload-Oxum",
                     expected=oxums[0], actual=actual)

    def _check_manifest(
        self,
        manifest: str,
        alg: str,
        universe: set[str],
        required: set[str],
        *,
        payload_manifest: bool,
    ) -> None:
        if alg not in VERIFIABLE:
            self.add(FindingKind.MANIFEST_UNVERIFIED, manifest,
                     f"the verifier does not compute {alg}; this manifest was not checked")
            return
        text = self._text(manifest, FindingKind.MANIFEST_MALFORMED)
        if text is None:
            return
        breaks = max(text.count("\n"), text.count("\r"))  # lines <= 2x this
        if breaks > self.limits.max_manifest_lines:
            raise LimitExceeded("its number of lines", self.limits.max_manifest_lines,
                                f"at least {breaks}", manifest)
        listed: set[str] = set()
        for entry, problem in bagit_paths.iter_manifest(text):
            if entry is None:
                self.add(FindingKind.MANIFEST_MALFORMED, manifest, problem)
                continue
            candidates = bagit_paths.path_candidates(entry.raw_path)
            path = next((c for c in candidates if c in universe), None)
            shown = path or candidates[0]
            if not self._entry_path_ok(manifest, entry.line_no, shown, payload_manifest):
                continue
            if path is None:
                self.add(FindingKind.FILE_MISSING, shown,
                         f"listed in {manifest} (line {entry.line_no}) but not in the archive")
                continue
            if path in listed:
                self.add(FindingKind.MANIFEST_MALFORMED, manifest,
                         f"line {entry.line_no}: lists {path!r} more than once")
                continue
            listed.add(path)
            actual = getattr(self.inv.files[path], alg)
            if entry.digest != actual:
                self.add(FindingKind.CHECKSUM_MISMATCH, path, f"{alg} differs from {manifest}",
                         expected=entry.digest, actual=actual)
        for path in sorted(required - listed):
            self.add(FindingKind.FILE_NOT_IN_MANIFEST, path, f"not listed in {manifest}")

    def _entry_path_ok(self, manifest: str, line_no: int, path: str, payload: bool) -> bool:
        parts = path.split("/")
        if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            self.add(FindingKind.MANIFEST_MALFORMED, manifest,
                     f"line {line_no}: unsafe path {path!r}")
            return False
        if payload != is_payload(path):
            where = "outside" if payload else "inside"
            self.add(FindingKind.MANIFEST_MALFORMED, manifest,
                     f"line {line_no}: {path!r} is {where} the payload directory")
            return False
        return True
