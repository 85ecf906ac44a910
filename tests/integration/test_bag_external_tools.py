"""Our bags through the standard tools: /usr/bin/zstd, GNU tar and bagit-python.

An auditor without opsledger runs ``zstd -d < x.tar.zst | tar -x`` and then
``bagit.Bag(path).validate()``. These tests run exactly that, and pin down
where bagit-python 1.9 disagrees with RFC 8493 about percent-encoding.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import bagit
import pytest
from opsledger.archiver.builder.bag import build_bag
from opsledger.archiver.verify.findings import FindingKind
from opsledger.archiver.verify.verifier import verify_archive

pytestmark = pytest.mark.skipif(
    not (shutil.which("zstd") and shutil.which("tar")), reason="needs the zstd and tar commands"
)

LF_NAME = "fill\nreport.log"
CR_LF_NAME = "carriage\r\nreturn.log"
THREE_LF_NAME = "a\nb\nc\nd.log"
PERCENT_NAME = "50% fill.csv"


def session(root: Path, *names: str) -> Path:
    root.mkdir()
    (root / "deploy.log").write_text("2024-05-01T09:00:00Z deploy ok\n" * 1000)
    (root / "logs with spaces").mkdir()
    (root / "logs with spaces" / "kill switch.log").write_text("kill --reason drill\n")
    (root / "résumé de séance.md").write_text("near miss, no loss\n")
    (root / "日本語-ログ.txt").write_text("ok\n")
    for name in names:
        (root / name).write_text(f"content of {name!r}\n")
    return root


def build_to_file(src: Path, out_dir: Path) -> tuple[Path, bytes]:
    out_dir.mkdir()
    buf = io.BytesIO()
    result = build_bag(src, buf, ticket_key="OPS-42", session_date="2024-05-01",
                       bag_info=[("Opsledger-Env", "prod")],
                       tag_files={"opsledger/events.jsonl": [b'{"seq":1}\n'],
                                  "opsledger/ticket.json": b"{}"})
    archive = out_dir / result.archive_name
    archive.write_bytes(buf.getvalue())
    return archive, result.detached_manifest


def shell_extract(archive: Path, dest: Path) -> Path:
    dest.mkdir()
    subprocess.run(f"zstd -d -q -c '{archive}' | tar -x -C '{dest}'", shell=True, check=True)
    (top,) = dest.iterdir()
    return top


def bagit_errors(bag_dir: Path) -> list[str]:
    try:
        bagit.Bag(str(bag_dir)).validate()
    except bagit.BagValidationError as exc:
        return [str(d) for d in exc.details] or [str(exc)]
    return []


def test_zstd_checks_the_frame_and_tar_lists_pax_names(tmp_path):
    archive, _ = build_to_file(session(tmp_path / "s"), tmp_path / "out")
    subprocess.run(["zstd", "-t", "-q", str(archive)], check=True)
    listing = subprocess.run(f"zstd -d -q -c '{archive}' | tar -t", shell=True, check=True,
                             capture_output=True, text=True).stdout.splitlines()
    assert "OPS-42-2024-05-01/data/日本語-ログ.txt" in listing
    assert listing[-1] == "OPS-42-2024-05-01/tagmanifest-sha512.txt"


def test_bagit_python_validates_spaces_and_non_ascii_names(tmp_path):
    src = session(tmp_path / "s")
    archive, detached = build_to_file(src, tmp_path / "out")
    top = shell_extract(archive, tmp_path / "x")
    assert top.name == "OPS-42-2024-05-01"
    assert bagit_errors(top) == []
    bag = bagit.Bag(str(top))
    assert bag.info["External-Identifier"] == "OPS-42"
    assert bag.info["Opsledger-Env"] == "prod"
    assert (top / "data" / "logs with spaces" / "kill switch.log").read_text() == "kill --reason drill\n"
    with open(archive, "rb") as stream:
        assert verify_archive(stream, detached_manifest=detached).ok


def test_cr_and_lf_names_pass_bagit_python_while_at_most_two_escapes(tmp_path):
    src = session(tmp_path / "s", LF_NAME, CR_LF_NAME)
    archive, detached = build_to_file(src, tmp_path / "out")
    top = shell_extract(archive, tmp_path / "x")
    manifest = (top / "manifest-sha256.txt").read_text()
    assert "data/fill%0Areport.log" in manifest and "data/carriage%0D%0Areturn.log" in manifest
    assert bagit_errors(top) == []
    with open(archive, "rb") as stream:
        assert verify_archive(stream, detached_manifest=detached).ok


def test_bagit_python_decodes_only_two_escapes_per_name(tmp_path):
    # bagit.py calls re.sub(pattern, repl, s, re.IGNORECASE): the flag lands in
    # the *count* argument (2), so a third %0A stays encoded.
    src = session(tmp_path / "s", THREE_LF_NAME)
    archive, detached = build_to_file(src, tmp_path / "out")
    top = shell_extract(archive, tmp_path / "x")
    errors = bagit_errors(top)
    assert any("a\nb\nc%0Ad.log exists in manifest but was not found" in e for e in errors)
    with open(archive, "rb") as stream:
        assert verify_archive(stream, detached_manifest=detached).ok


def test_percent_names_follow_rfc8493_which_bagit_python_rejects(tmp_path):
    src = session(tmp_path / "s", PERCENT_NAME)
    archive, detached = build_to_file(src, tmp_path / "out")
    top = shell_extract(archive, tmp_path / "x")
    assert "data/50%25 fill.csv" in (top / "manifest-sha256.txt").read_text()
    # bagit-python 1.9 looks for a file literally named "50%25 fill.csv" (issue #157).
    errors = bagit_errors(top)
    assert sorted(errors) == sorted([
        "data/50%25 fill.csv exists in manifest but was not found on filesystem",
        "data/50% fill.csv exists on filesystem but is not in the manifest",
    ])
    with open(archive, "rb") as stream:
        assert verify_archive(stream, detached_manifest=detached).ok


def test_our_verifier_accepts_a_bag_made_by_bagit_python_and_the_shell(tmp_path):
    """The legacy spelling: '%' raw, CR/LF escaped, BagIt-Version 0.97, GNU tar format."""
    bag_dir = session(tmp_path / "OPS-43-2024-05-02", PERCENT_NAME, LF_NAME, "literal %41.txt")
    bagit.make_bag(str(bag_dir), {"External-Identifier": "OPS-43"}, checksums=["sha256", "sha512"])
    manifest = (bag_dir / "manifest-sha256.txt").read_text()
    assert "data/50% fill.csv" in manifest and "data/fill%0Areport.log" in manifest
    archive = tmp_path / "legacy.tar.zst"
    subprocess.run(
        f"tar -C '{tmp_path}' -cf - OPS-43-2024-05-02 | zstd -q -T0 -o '{archive}'",
        shell=True, check=True,
    )
    with open(archive, "rb") as stream:
        report = verify_archive(stream)
    assert report.ok, [str(f) for f in report.findings]
    assert {"data/50% fill.csv", "data/fill\nreport.log", "data/literal %41.txt"} <= set(report.files)


def test_verifier_flags_what_bagit_python_flags_after_tampering(tmp_path):
    archive, _ = build_to_file(session(tmp_path / "s"), tmp_path / "out")
    top = shell_extract(archive, tmp_path / "x")
    log = top / "data" / "deploy.log"
    log.write_bytes(log.read_bytes().replace(b"deploy ok", b"deploy KO", 1))  # same size
    (top / "data" / "late-note.md").write_text("added after bagging\n")
    assert any("Payload-Oxum validation failed" in e for e in bagit_errors(top))
    (top / "data" / "late-note.md").unlink()
    assert any("deploy.log" in e and "sha256" in e for e in bagit_errors(top))
    (top / "data" / "late-note.md").write_text("added after bagging\n")
    repacked = tmp_path / "repacked.tar.zst"
    subprocess.run(f"tar -C '{top.parent}' -cf - {top.name} | zstd -q -o '{repacked}'",
                   shell=True, check=True)
    with open(repacked, "rb") as stream:
        report = verify_archive(stream)
    assert {(f.kind, f.path) for f in report.findings} == {
        (FindingKind.CHECKSUM_MISMATCH, "data/deploy.log"),
        (FindingKind.FILE_NOT_IN_MANIFEST, "data/late-note.md"),
        (FindingKind.PAYLOAD_OXUM, "bag-info.txt"),
    }


def test_bagit_python_strips_trailing_spaces_from_manifest_paths(tmp_path):
    # bagit.py strips each manifest line, so "data/draft " becomes "data/draft".
    src = session(tmp_path / "s", "draft ")
    archive, detached = build_to_file(src, tmp_path / "out")
    top = shell_extract(archive, tmp_path / "x")
    assert "data/draft exists in manifest but was not found on filesystem" in bagit_errors(top)
    with open(archive, "rb") as stream:
        assert verify_archive(stream, detached_manifest=detached).ok
